import { request } from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly retryAfter?: string;
  readonly body: { code?: string; message?: string };
}

/**
 * One HTTP request from a given local address: Linux routes all of 127/8 to lo, so tests can play
 * many clients (per-address limits) without a network. The body is read as JSON when there is one.
 */
export function httpFrom(localAddress: string, url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', localAddress, headers: { 'content-type': 'application/json', ...options.headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode!, ...(retryAfter === undefined ? {} : { retryAfter }), body: text === '' ? {} : (JSON.parse(text) as HttpAnswer['body']) });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
