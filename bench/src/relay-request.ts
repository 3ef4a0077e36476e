/**
 * The verify request a relay bench sends (`{"id", "qr", "venue"}` on cityops/v1/verify-req/{scanner},
 * as protocol/src/topics.ts describes it). The id carries the send time in ms since the epoch with
 * µs digits (performance.timeOrigin + now(): the same clock in every process of this machine, to
 * well under a millisecond), so the subscriber reads publish → delivered from the request itself.
 */
const BASE45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

/** A fixed QR text of `chars` characters in the base45 alphabet, `CHC1:`-prefixed like a city health code. */
export function relayQrText(chars: number): string {
  let text = 'CHC1:';
  for (let i = 0; text.length < chars; i++) text += BASE45[(i * 7) % BASE45.length];
  return text.slice(0, Math.max(chars, 5));
}

export function relayRequest(client: string, seq: number, qr: string): string {
  return `{"id":"${(performance.timeOrigin + performance.now()).toFixed(3)}/${client}/${seq}","qr":"${qr}","venue":"bench-venue"}`;
}

/** Publish → now in ms, from a request's id (NaN when the id is not one of ours). */
export function relayLatencyMs(payload: Buffer): number {
  const id = (JSON.parse(payload.toString('utf8')) as { id?: unknown }).id;
  const sent = typeof id === 'string' ? Number(id.slice(0, id.indexOf('/'))) : Number.NaN;
  return performance.timeOrigin + performance.now() - sent;
}
