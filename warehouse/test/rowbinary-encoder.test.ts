import { describe, expect, it } from 'vitest';
import { createRowBinaryWriter } from '../src/rowbinary-encoder.ts';
import { createReadingsPacker } from '../src/readings-packer.ts';
import { encodeReadingsRowBinary, READINGS_ROWBINARY_STRUCTURE } from '../src/readings-rowbinary.ts';
import type { StoredBatch } from '../src/types.ts';

const hex = (b: Buffer) => b.toString('hex');

describe('RowBinary writer', () => {
  it('writes strings as a LEB128 length and their UTF-8 bytes', () => {
    const w = createRowBinaryWriter({ maxBytes: 4096 });
    w.string('');
    w.string('ab');
    w.string('上海'); // 6 UTF-8 bytes from 2 UTF-16 units: the length is in bytes
    expect(hex(w.view())).toBe(`00` + `02${hex(Buffer.from('ab'))}` + `06${hex(Buffer.from('上海'))}`);
    w.reset();
    const long = 'x'.repeat(300); // 300 = 0b10_0101100 -> 0xac 0x02
    w.string(long);
    expect(hex(w.view().subarray(0, 2))).toBe('ac02');
    expect(w.length).toBe(302);
    w.reset();
    const mixed = `${'a'.repeat(100)}é`; // short but not ASCII: takes the UTF-8 path
    w.string(mixed);
    expect(w.view()[0]).toBe(102);
    expect(w.view().subarray(1).toString('utf8')).toBe(mixed);
  });

  it('writes integers little-endian, Int64 in two’s complement, Float64 as IEEE 754', () => {
    const w = createRowBinaryWriter({ maxBytes: 4096 });
    w.bool(true);
    w.bool(false);
    w.uint8(0xfe);
    w.uint16(0x1234);
    w.uint32(0xdeadbeef);
    expect(hex(w.view())).toBe('0100' + 'fe' + '3412' + 'efbeadde');
    w.reset();
    w.dateTime64Ms(1_700_000_000_123); // 0x018bcfe5687b
    w.int64(-2);
    w.int64(2 ** 53 - 1);
    w.float64(-1.5);
    const b = w.view();
    expect(b.readBigInt64LE(0)).toBe(1_700_000_000_123n);
    expect(b.readBigInt64LE(8)).toBe(-2n);
    expect(b.readBigInt64LE(16)).toBe(2n ** 53n - 1n);
    expect(b.readDoubleLE(24)).toBe(-1.5);
    expect(() => w.int64(1.5)).toThrow(RangeError);
    expect(() => w.uint32(2 ** 32)).toThrow(RangeError);
  });

  it('grows one buffer by doubling, reuses it after reset, and refuses to pass its bound', () => {
    const w = createRowBinaryWriter({ initialBytes: 16, maxBytes: 100 });
    for (let i = 0; i < 5; i++) w.float64(i);
    expect(w.capacity).toBe(64);
    w.reset();
    w.float64(1);
    expect(w.capacity).toBe(64);
    expect(w.length).toBe(8);
    for (let i = 0; i < 11; i++) w.float64(i);
    expect(w.capacity).toBe(100);
    expect(() => w.float64(0)).toThrow(/bound of 100 bytes/);
  });

  it('repeats bytes already written', () => {
    const w = createRowBinaryWriter({ initialBytes: 4, maxBytes: 64 });
    w.string('abc');
    w.repeat(0, 4);
    w.repeat(1, 4);
    expect(w.view().toString('latin1')).toBe('\u0003abc\u0003abcabc');
    expect(() => w.repeat(0, 99)).toThrow(RangeError);
  });
});

describe('RowBinary writer: taking bytes', () => {
  it('hands out windows of one slab that no later write touches, then moves on to a new slab', () => {
    // 4 KiB and up: below that Buffer.allocUnsafe carves from Node's shared pool, and .buffer says nothing.
    const w = createRowBinaryWriter({ initialBytes: 4096, maxBytes: 8192 });
    w.string('abc');
    w.repeat(0, 4);
    const first = w.take();
    expect(first.toString('latin1')).toBe('\u0003abc\u0003abc');
    expect(w.length).toBe(0);
    w.uint32(0x01020304); // positions count from the take: repeat(0, 4) is this uint32
    w.repeat(0, 4);
    const second = w.take();
    expect(hex(second)).toBe('04030201'.repeat(2));
    expect(second.buffer).toBe(first.buffer); // one allocation for both
    expect(second.byteOffset).toBe(first.byteOffset + first.length);
    // 16 bytes used of 4,096: a 3,000-byte string fits, the next one does not and moves to a new slab
    // with the 8 bytes written before it.
    w.string('x'.repeat(3000));
    const third = w.take();
    expect(third.buffer).toBe(first.buffer);
    w.float64(1);
    w.string('y'.repeat(3000));
    const fourth = w.take();
    expect(fourth.buffer).not.toBe(first.buffer);
    expect(fourth.readDoubleLE(0)).toBe(1);
    expect(fourth.subarray(10).toString('latin1')).toBe('y'.repeat(3000));
    expect(first.toString('latin1')).toBe('\u0003abc\u0003abc');
    expect(hex(second)).toBe('04030201'.repeat(2));
    expect(third.subarray(2).toString('latin1')).toBe('x'.repeat(3000));
  });

  it('rewinds to the last take on reset, and bounds the bytes since the last take', () => {
    const w = createRowBinaryWriter({ initialBytes: 16, maxBytes: 24 });
    w.float64(7);
    const kept = w.take();
    w.float64(8);
    w.reset();
    expect(w.length).toBe(0);
    w.float64(9);
    expect(w.take().readDoubleLE(0)).toBe(9);
    expect(kept.readDoubleLE(0)).toBe(7);
    // 24 bytes since the take fit although 40 were written in all; the 25th does not.
    for (let i = 0; i < 3; i++) w.float64(i);
    expect(() => w.uint8(1)).toThrow(/bound of 24 bytes/);
    expect(() => w.repeat(0, 25)).toThrow(RangeError);
    expect(w.take()).toHaveLength(24);
    expect(w.take()).toHaveLength(0);
  });
});

describe('readings packer', () => {
  const place = { district: 'd', subdistrict: 's', grid: 'g', building: 'b' };
  const stored = (seq: number, n: number, boot = 1): StoredBatch => ({
    device: `gw-${seq}`, place, boot, seq, receivedAt: 5000 + seq,
    readings: Array.from({ length: n }, (_, i) => ({ sensor: `s-${i}`, metric: 'pm25', ts: 1000 + i, value: i / 4 })),
  });

  it('packs each batch into bytes of its own, equal to the batch encoded alone', () => {
    const packer = createReadingsPacker({ maxInsertRows: 10_000 });
    const reference = createRowBinaryWriter({ maxBytes: 1 << 22 });
    // Enough batches to fill several 64 KiB slabs, one of them larger than a slab.
    const batches = Array.from({ length: 120 }, (_, i) => stored(i, i === 60 ? 5000 : 30 + (i % 50)));
    const out = batches.map((b) => packer.pack(b));
    batches.forEach((b, i) => expect(hex(out[i]!), `batch ${i}`).toBe(hex(encodeReadingsRowBinary(reference, [b]))));
    const slabs = new Set(out.map((b) => b.buffer)).size;
    expect(slabs).toBeGreaterThan(1);
    expect(slabs).toBeLessThan(batches.length / 4);
    expect(packer.pack(stored(999, 0))).toHaveLength(0);
  });

  it('leaves nothing of a batch that fails to encode', () => {
    const packer = createReadingsPacker({ maxInsertRows: 100 });
    const before = packer.pack(stored(1, 3));
    expect(() => packer.pack(stored(2, 3, 2 ** 32))).toThrow(RangeError);
    const after = packer.pack(stored(3, 3));
    expect(hex(after)).toBe(hex(encodeReadingsRowBinary(createRowBinaryWriter({ maxBytes: 4096 }), [stored(3, 3)])));
    expect(after.byteOffset).toBe(before.byteOffset + before.length);
  });

  /** Packs batches of 100 readings until one lands in a slab other than `than`'s; returns all packed. */
  const packUntilNewSlab = (packer: ReturnType<typeof createReadingsPacker>, than: Buffer, from: number) => {
    const out: Buffer[] = [];
    do out.push(packer.pack(stored(from + out.length, 100)));
    while (out.at(-1)!.buffer === than.buffer);
    return out;
  };

  it('reuses a full slab once every batch in it is released, never while one is held', () => {
    const packer = createReadingsPacker({ maxInsertRows: 10_000 });
    const first = packer.pack(stored(0, 100));
    const inFirst = [first, ...packUntilNewSlab(packer, first, 1)];
    const held = inFirst.at(-2)!;
    const heldHex = hex(held);
    expect(inFirst.length).toBeGreaterThan(3);
    // All but one released (one of them twice): the slab stays theirs.
    for (const b of inFirst.slice(0, -2)) packer.release(b);
    packer.release(first);
    let seq = 1000;
    for (let i = 0; i < 5; i++) {
      const next = packUntilNewSlab(packer, packer.pack(stored(seq++, 100)), seq);
      seq += next.length;
      expect(next.every((b) => b.buffer !== held.buffer)).toBe(true);
    }
    expect(hex(held)).toBe(heldHex);
    // The last one released: the next slab the packer needs is that one.
    packer.release(held);
    const last = packer.pack(stored(seq++, 100));
    const after = packUntilNewSlab(packer, last, seq);
    expect(after.at(-1)!.buffer).toBe(held.buffer);
    expect(hex(after.at(-1)!)).toBe(hex(encodeReadingsRowBinary(createRowBinaryWriter({ maxBytes: 1 << 20 }), [stored(seq + after.length - 1, 100)])));
  });

  it('ignores bytes it did not pack, and never reuses a slab larger than the usual', () => {
    const packer = createReadingsPacker({ maxInsertRows: 10_000 });
    packer.release(Buffer.alloc(16));
    const big = packer.pack(stored(0, 5000));
    expect(big.buffer.byteLength).toBeGreaterThan(64 * 1024);
    const next = packUntilNewSlab(packer, big, 1);
    packer.release(big);
    for (const b of next) packer.release(b);
    const later = packUntilNewSlab(packer, packer.pack(stored(500, 100)), 501);
    expect(later.every((b) => b.buffer !== big.buffer)).toBe(true);
  });
});

describe('readings RowBinary layout', () => {
  it('encodes the batch columns once per reading and idx as the position in the batch', () => {
    const w = createRowBinaryWriter({ maxBytes: 4096 });
    const place = { district: 'd', subdistrict: 's', grid: 'g', building: '' };
    const bytes = encodeReadingsRowBinary(w, [
      { device: 'gw', place, boot: 1, seq: 2, receivedAt: 5000, readings: [
        { sensor: 'a', metric: 'm', ts: 1000, value: 0.5, alarm: true },
        { sensor: 'b', metric: 'm', ts: 2000, value: 1 },
      ] },
      { device: 'gw', place, boot: 1, seq: 3, receivedAt: 6000, readings: [] },
    ]);
    const prefix = '0164' + '0173' + '0167' + '00' + '026777' + '01000000' + '02000000' + '8813000000000000';
    const row0 = prefix + '0161' + '016d' + 'e803000000000000' + hex(float(0.5)) + '01' + '0000';
    const row1 = prefix + '0162' + '016d' + 'd007000000000000' + hex(float(1)) + '00' + '0100';
    expect(hex(bytes)).toBe(row0 + row1);
    expect(READINGS_ROWBINARY_STRUCTURE.split(', ')).toHaveLength(14);
  });
});

function float(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b;
}
