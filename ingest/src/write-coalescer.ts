import type { Writable } from 'node:stream';

export interface WriteCoalescerConfig {
  /**
   * Bytes held corked at most (and never the stream's highWaterMark or more): a write that would
   * pass it sends what is held first (0: every packet goes out on its own, as mqtt-packet sends it).
   */
  readonly maxBytes: number;
}

/**
 * Sends what aedes writes to one connection in a turn of the event loop as one writev instead of one
 * per packet. mqtt-packet corks a stream only until the next tick, and aedes delivers each routed
 * message in a setImmediate of its own, so a subscriber receiving N messages in a turn cost N
 * syscalls and N TCP segments (relay bench: 955 bytes per segment to the verifier's subscription
 * against mosquitto's 1,953, and writev the broker's top function by self time, ~20% of its CPU).
 * With the congestion window counted in segments (BBR's on loopback: 10-26), those small segments
 * are also what left verify requests written yet unsent behind a subscriber that paused: delivered
 * p99 176 ms against a PUBACK p99 of 42 (bench report 2026-12-06T20-54-06Z).
 *
 * The first write of a turn corks the stream and queues the flush with setImmediate, which runs in
 * the check phase after the I/O of this turn (or, for a write made inside an immediate, at the start
 * of the next check phase): every packet is sent within the loop iteration it was written in or the
 * next, never after a timer. Back-pressure is unchanged: what is held stays under the highWaterMark, so
 * `write` returns false only when the socket's own buffer is behind, and 'drain' follows as before.
 */
export function coalesceWrites(stream: Writable, config: WriteCoalescerConfig): void {
  if (config.maxBytes === 0) return;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  let corked = false;
  const flush = () => {
    if (!corked) return;
    corked = false;
    // Only our own cork: mqtt-packet's are paired with its own nextTick uncorks.
    if (!stream.destroyed) stream.uncork();
  };
  // Held bytes stay under the stream's highWaterMark: write() answers false only when the socket
  // itself is behind, as without coalescing (aedes then waits for 'drain', holding its routing slot).
  const limit = Math.min(config.maxBytes, stream.writableHighWaterMark);
  stream.write = ((...args: unknown[]) => {
    const chunk = args[0];
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).byteLength;
    if (corked && stream.writableLength + size > limit) flush();
    if (!corked && size < limit && !stream.destroyed && !stream.writableEnded) {
      corked = true;
      stream.cork();
      setImmediate(flush);
    }
    return write(...args);
  }) as Writable['write'];
}
