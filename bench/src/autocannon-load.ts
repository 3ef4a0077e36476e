import { createRequire } from 'node:module';

/** The part of autocannon's result the bench reads (the package has no types). */
export interface AutocannonResult {
  readonly duration: number;
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly requests: { readonly total: number };
  readonly '2xx': number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

interface AutocannonRequest {
  readonly method: 'POST';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

interface AutocannonOptions {
  readonly url: string;
  readonly connections: number;
  readonly duration: number;
  readonly maxConnectionRequests: number;
  readonly requests: readonly AutocannonRequest[];
  readonly setupClient: (client: { setRequests(requests: readonly AutocannonRequest[]): void }) => void;
}

export type Autocannon = (options: AutocannonOptions) => Promise<AutocannonResult>;

/**
 * A JSON POST of `path`; the n-th request carries `authorizations[n % length]` (scanners' Basic
 * credentials, issue 16): the load comes from many doors, each authenticated as a real one.
 */
export function jsonPost(path: string, authorizations: readonly string[] = []): (body: string, n: number) => AutocannonRequest {
  return (body, n) => ({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...(authorizations.length === 0 ? {} : { authorization: authorizations[n % authorizations.length]! }) },
    body,
  });
}

/** autocannon, loaded through require (CommonJS, untyped). */
export function loadAutocannon(): Autocannon {
  return createRequire(import.meta.url)('autocannon') as Autocannon;
}

/**
 * POSTs JSON `bodies` for `seconds` over `connections`: each connection sends its own equal slice
 * once, so no body is sent twice; a run that runs out of bodies ends early (see `duration`).
 */
export async function postEach(autocannon: Autocannon, url: string, path: string, bodies: readonly string[], connections: number, seconds: number, authorizations: readonly string[] = []): Promise<AutocannonResult> {
  const request = jsonPost(path, authorizations);
  // Equal slices (autocannon has one maxConnectionRequests for all connections).
  const per = Math.floor(bodies.length / connections);
  if (per < 1) throw new Error(`${bodies.length} request bodies for ${connections} connections`);
  const slices = Array.from({ length: connections }, (_, c) => bodies.slice(c * per, (c + 1) * per).map((body, i) => request(body, c * per + i)));
  let next = 0;
  return autocannon({
    url,
    connections,
    duration: seconds,
    maxConnectionRequests: per,
    requests: [request(bodies[0]!, 0)],
    setupClient: (client) => client.setRequests(slices[next++ % connections]!),
  });
}

/** Requests that did not get a 2xx answer. */
export function failedRequests(r: AutocannonResult): number {
  return r.non2xx + r.errors + r.timeouts;
}
