import { formatDateTime64Utc } from './datetime64-text.ts';
import type { DeadLetter } from './types.ts';

/**
 * Dead letters travel as JSONEachRow, which cannot carry arbitrary bytes, so the payload goes as
 * base64 into the EPHEMERAL column `payload_b64` and the server decodes it into `payload`
 * (DEFAULT base64Decode(payload_b64)): the raw bytes are stored exactly.
 */
export const DEAD_LETTER_COLUMNS = ['received_at', 'device', 'topic', 'reason', 'detail', 'payload_b64'] as const;

export function deadLettersToJsonRows(letters: readonly DeadLetter[]): Record<string, unknown>[] {
  return letters.map((l) => ({
    received_at: formatDateTime64Utc(l.receivedAt),
    device: l.device,
    topic: l.topic,
    reason: l.reason,
    detail: l.detail,
    payload_b64: Buffer.from(l.payload.buffer, l.payload.byteOffset, l.payload.byteLength).toString('base64'),
  }));
}
