import { describe, expect, it } from 'vitest';
import { createByteAccumulator } from '../src/byte-accumulator.ts';

describe('byte accumulator', () => {
  it('keeps a single chunk as it came', () => {
    const acc = createByteAccumulator();
    const chunk = Buffer.from('whole CONNECT');
    acc.append(chunk);
    expect(acc.bytes()).toBe(chunk);
    expect(acc.length).toBe(chunk.length);
  });

  it('joins a CONNECT sent a byte at a time, holding at most about twice its length', () => {
    const acc = createByteAccumulator();
    const packet = Buffer.from(Array.from({ length: 5_000 }, (_, i) => i % 251));
    let largest = 0;
    for (const byte of packet) {
      acc.append(Buffer.from([byte]));
      largest = Math.max(largest, acc.bytes().buffer.byteLength);
    }
    expect(acc.bytes().equals(packet)).toBe(true);
    expect(largest).toBeLessThanOrEqual(2 * packet.length + 256);
  });

  it('grows no further than the declared packet size', () => {
    const acc = createByteAccumulator();
    acc.append(Buffer.alloc(100, 1), 1_000);
    acc.append(Buffer.alloc(799, 2), 1_000);
    // 899 held: doubling would make 1,798; the packet is 1,000 bytes.
    expect(acc.bytes().buffer.byteLength).toBe(1_000);
    acc.append(Buffer.alloc(101, 3), 1_000);
    expect(acc.bytes().buffer.byteLength).toBe(1_000);
    expect(acc.length).toBe(1_000);
  });

  it('is empty before the first chunk', () => {
    const acc = createByteAccumulator();
    expect(acc.length).toBe(0);
    expect(acc.bytes().length).toBe(0);
  });
});
