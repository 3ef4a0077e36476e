import { Packr, pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { createTelemetryCodec, type TelemetryBatch } from '../src/index.ts';

const batch: TelemetryBatch = {
  boot: 3,
  seq: 42,
  readings: [
    { sensor: 'pm25-1', metric: 'pm25', ts: 1_764_000_000_000, value: 35.5 },
    { sensor: 'cover-2', metric: 'manhole_tilt', ts: 1_764_000_000_500, value: 12, alarm: true },
  ],
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('telemetry codec', () => {
  it('round-trips a batch through msgpack', () => {
    const codec = createTelemetryCodec();
    expect(codec.decode(codec.encode(batch))).toEqual(batch);
  });

  it('keeps the wire bytes still (golden bytes: the shared structures are a contract)', () => {
    const codec = createTelemetryCodec();
    expect(codec.encode(batch).toString('hex')).toBe(GOLDEN_HEX);
  });

  it('is much smaller than JSON for a 100-reading batch', () => {
    const codec = createTelemetryCodec();
    const big: TelemetryBatch = {
      boot: 1,
      seq: 1,
      readings: Array.from({ length: 100 }, (_, i) => ({
        sensor: `s-${i}`,
        metric: 'pm25',
        ts: 1_764_000_000_000 + i,
        value: i / 3,
      })),
    };
    const bytes = codec.encode(big);
    expect(bytes.length).toBeLessThan(JSON.stringify(big).length * 0.6);
    expect(codec.decode(bytes)).toEqual(big);
  });

  it('accepts JSON and plain msgpack maps from generic clients', () => {
    const codec = createTelemetryCodec();
    expect(codec.decode(Buffer.from(JSON.stringify(batch)))).toEqual(batch);
    expect(codec.decode(Buffer.from(` \n${JSON.stringify(batch)}`))).toEqual(batch);
    expect(codec.decode(pack(batch))).toEqual(batch);
    // Plain msgpack writes 64-127 as one byte (0x40-0x7f), the range records use: still integers.
    const smallInts: TelemetryBatch = { boot: 100, seq: 64, readings: [{ sensor: 's', metric: 'pm25', ts: 1_764_000_000_000, value: 127 }] };
    expect(codec.decode(pack(smallInts))).toEqual(smallInts);
    // msgpackr's records without a shared table: each message defines its structures inline.
    const records = new Packr({ useRecords: true });
    expect(codec.decode(records.pack(batch))).toEqual(batch);
    expect(codec.decode(records.pack({ ...batch, seq: 43 }))).toEqual({ ...batch, seq: 43 });
  });

  it.each([
    ['empty', Buffer.alloc(0), 'PROTOCOL_ERR_PAYLOAD_EMPTY'],
    ['garbage', Buffer.from([0xc1, 0xc1, 0xc1]), 'PROTOCOL_ERR_PAYLOAD_DECODE'],
    ['truncated JSON', Buffer.from('{"boot": 1, "seq"'), 'PROTOCOL_ERR_PAYLOAD_DECODE'],
    ['a msgpack string', pack('hello'), 'PROTOCOL_ERR_SCHEMA'],
    ['no readings', pack({ boot: 1, seq: 1, readings: [] }), 'PROTOCOL_ERR_SCHEMA'],
    ['wrong type', Buffer.from(JSON.stringify({ ...batch, seq: 'x' })), 'PROTOCOL_ERR_SCHEMA'],
    ['extra field', Buffer.from(JSON.stringify({ ...batch, district: 'x' })), 'PROTOCOL_ERR_SCHEMA'],
    ['negative seq', Buffer.from(JSON.stringify({ ...batch, seq: -1 })), 'PROTOCOL_ERR_SCHEMA'],
    [
      'NaN value',
      pack({ boot: 1, seq: 1, readings: [{ sensor: 's', metric: 'm', ts: 1, value: Number.NaN }] }),
      'PROTOCOL_ERR_SCHEMA',
    ],
    [
      'bad metric name',
      Buffer.from(JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 's', metric: 'X Y', ts: 1, value: 1 }] })),
      'PROTOCOL_ERR_SCHEMA',
    ],
  ])('refuses %s with a code', (_name, payload, code) => {
    expect(codeOf(() => createTelemetryCodec().decode(payload))).toBe(code);
  });

  it('refuses truncated msgpack', () => {
    const codec = createTelemetryCodec();
    const bytes = codec.encode(batch);
    expect(codeOf(() => codec.decode(bytes.subarray(0, bytes.length - 5)))).toMatch(/^PROTOCOL_ERR_(PAYLOAD_DECODE|SCHEMA)$/);
  });

  it('refuses oversized payloads before decoding them', () => {
    const codec = createTelemetryCodec({ maxPayloadBytes: 64 });
    expect(codeOf(() => codec.decode(Buffer.alloc(65, 0x7b)))).toBe('PROTOCOL_ERR_PAYLOAD_TOO_LARGE');
  });
});

const GOLDEN_HEX =
  '40032a9241a6706d32352d31a4706d3235cb4279ab697e800000cb4041c0000000000042a7636f7665722d32ac6d616e686f6c655f74696c74cb4279ab697e9f40000cc3';
