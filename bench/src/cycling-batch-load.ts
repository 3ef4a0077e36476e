import { jsonPost, type Autocannon, type AutocannonResult } from './autocannon-load.ts';

/** POST /v1/verify/batch bodies of `items` codes each (the last partial batch left out). */
export function verifyBatchBodies(codes: readonly string[], items: number): string[] {
  const bodies: string[] = [];
  for (let i = 0; i + items <= codes.length; i += items) bodies.push(JSON.stringify({ items: codes.slice(i, i + items).map((qr) => ({ qr })) }));
  return bodies;
}

/**
 * POSTs JSON `bodies` to `path` for `seconds` over `connections`, each connection going round its
 * own share again and again (unlike postEach, it never runs out): with more codes than the
 * verifier's verdict cache holds, a code comes back only after the cache has let it go. Shares
 * interleave (connection c takes bodies c, c + connections, ...) from `startAt`, so a run that
 * starts where the last one stopped (its requests sent) sends codes the cache has not seen lately.
 */
export function cycleBodies(autocannon: Autocannon, url: string, path: string, bodies: readonly string[], connections: number, seconds: number, startAt = 0, authorizations: readonly string[] = []): Promise<AutocannonResult> {
  const request = jsonPost(path, authorizations);
  if (bodies.length < connections) throw new Error(`${bodies.length} request bodies for ${connections} connections`);
  const from = startAt % bodies.length;
  const ordered = [...bodies.slice(from), ...bodies.slice(0, from)];
  const shares = Array.from({ length: connections }, (_, c) => ordered.filter((_, i) => i % connections === c).map((body, i) => request(body, c + i * connections)));
  let next = 0;
  return autocannon({
    url,
    connections,
    duration: seconds,
    maxConnectionRequests: Number.MAX_SAFE_INTEGER, // no limit (autocannon refuses 0): the duration ends the run
    requests: [request(bodies[0]!, 0)],
    setupClient: (client) => client.setRequests(shares[next++ % connections]!),
  });
}
