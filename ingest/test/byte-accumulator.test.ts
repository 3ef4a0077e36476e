import { describe, expect, it } from 'vitest';
import { createByteAccumulator } from '../src/byte-accumulator.ts';

describe('byte accumulator', () => {
  it('keeps a single chunk as it came when it owns its memory, and copies a small view of a larger one', () => {
    const own = Buffer.allocUnsafeSlow(13);
    own.write('whole CONNECT', 'latin1');
    const acc = createByteAccumulator();
    acc.append(own);
    expect(acc.bytes()).toBe(own);
    expect(acc.length).toBe(13);

    // A slice of a 64 KiB allocation (Node's Buffer pool, or a read arena): holding it would pin it all.
    const view = Buffer.alloc(65_536).subarray(100, 113);
    view.write('whole CONNECT', 'latin1');
    const copied = createByteAccumulator();
    copied.append(view);
    expect(copied.bytes().toString('latin1')).toBe('whole CONNECT');
    expect(copied.bytes().buffer.byteLength).toBeLessThanOrEqual(256);
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
