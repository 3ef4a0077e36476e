// The analytics HTTP API as the page uses it; errors carry the server's { code, message }.
/* global fetch, EventSource */

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? 'HTTP_' + status;
  }
}

async function call(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const parsed = text === '' ? undefined : JSON.parse(text);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const api = {
  info: () => call('GET', '/v1/dashboard/info'),
  indicators: () => call('GET', '/v1/indicators'),
  overview: (level, place) => call('GET', `/v1/dashboard/overview?level=${encodeURIComponent(level)}&place=${encodeURIComponent(place)}`),
  series: (name, level, place, from) =>
    call('GET', `/v1/indicators/${encodeURIComponent(name)}?level=${level}${place ? `&place=${encodeURIComponent(place)}` : ''}&from=${from}`),
  alerts: () => call('GET', '/v1/alerts?limit=500'),
  alert: (id) => call('GET', `/v1/alerts/${id}`),
  act: (id, verb, body, token) => call('POST', `/v1/alerts/${id}/${verb}`, body, token),
};

/**
 * The live stream (server-sent events). EventSource reconnects by itself (the server's `retry`);
 * each reconnect starts with a fresh `hello` and snapshot, so nothing needs replaying.
 */
export function connectStream(handlers) {
  const source = new EventSource('/v1/dashboard/stream');
  source.addEventListener('open', () => handlers.connected(true));
  source.addEventListener('error', () => handlers.connected(false));
  for (const name of ['hello', 'snapshot', 'alert']) {
    source.addEventListener(name, (e) => handlers[name](JSON.parse(e.data)));
  }
  return () => source.close();
}
