// The analytics HTTP API as the page uses it; errors carry the server's { code, message }.
/* global fetch, EventSource, sessionStorage, TextDecoder, setTimeout, clearTimeout, AbortController */

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? 'HTTP_' + status;
  }
}

// The role token (auth.tokens) the page sends with every request when the server asks for one; kept
// in the tab's sessionStorage only.
let sessionToken = sessionStorage.getItem('cityops.token') ?? '';
export const accessToken = {
  get: () => sessionToken,
  set(token) {
    sessionToken = token;
    if (token) sessionStorage.setItem('cityops.token', token);
    else sessionStorage.removeItem('cityops.token');
  },
};

async function call(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const bearer = token || sessionToken;
  if (bearer) headers.authorization = `Bearer ${bearer}`;
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
  departmentIndicators: (by, from, to) => call('GET', `/v1/department-indicators?by=${by}&from=${Math.floor(from)}&to=${Math.floor(to)}`),
};

/**
 * The live stream (server-sent events). EventSource reconnects by itself (the server's `retry`);
 * each reconnect starts with a fresh `hello` and snapshot, so nothing needs replaying.
 */
export function connectStream(handlers) {
  if (sessionToken) return connectStreamWithToken(handlers, sessionToken);
  const source = new EventSource('/v1/dashboard/stream');
  source.addEventListener('open', () => handlers.connected(true));
  source.addEventListener('error', () => handlers.connected(false));
  for (const name of ['hello', 'snapshot', 'alert']) {
    source.addEventListener(name, (e) => handlers[name](JSON.parse(e.data)));
  }
  return () => source.close();
}

/**
 * The same stream read through fetch, which can send the token (EventSource cannot set headers, and
 * a token in the URL would land in logs). Parses `event:`/`data:` frames (WHATWG HTML §9.2.6) and
 * reconnects after 2 s like EventSource; a 401/403 is reported once and not retried.
 */
function connectStreamWithToken(handlers, token) {
  const controller = new AbortController();
  let retry;
  const run = async () => {
    try {
      const response = await fetch('/v1/dashboard/stream', { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
      if (response.status === 401 || response.status === 403) {
        const body = await response.json().catch(() => undefined);
        // Closed meanwhile (the page dropped this token): the refusal is no longer news.
        if (controller.signal.aborted) return;
        handlers.connected(false);
        handlers.refused?.(new ApiError(response.status, body));
        return;
      }
      if (!response.ok || response.body === null) throw new ApiError(response.status);
      handlers.connected(true);
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '' && handlers[event] !== undefined) handlers[event](JSON.parse(data));
        }
      }
    } catch {
      if (controller.signal.aborted) return;
    }
    handlers.connected(false);
    if (!controller.signal.aborted) retry = setTimeout(run, 2000);
  };
  void run();
  return () => {
    clearTimeout(retry);
    controller.abort();
  };
}
