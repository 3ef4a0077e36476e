import fc from 'fast-check';
import { Packr, pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { CityopsError, createTelemetryCodec, MAX_READINGS_PER_BATCH, type TelemetryBatch, type TelemetryCodec } from '../src/index.ts';
import { steadyMs } from './steady-time.ts';

/**
 * Hostile input for the telemetry decoder and validator (the codec ingest's pipeline decodes every
 * MQTT and HTTP payload with): every input ends as a batch that re-encodes and round-trips, or as a
 * CityopsError with a PROTOCOL_ERR_* code; never another throw, never slow, never a big allocation.
 */

const MAX_TS = 253402300799999;
/** Per input, on a busy 2-core machine; a decode of these sizes takes well under a millisecond. */
const MAX_DECODE_MS = 250;

const reading = fc.record(
  {
    sensor: fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
    metric: fc.stringMatching(/^[a-z][a-z0-9_]{0,63}$/),
    ts: fc.integer({ min: 0, max: MAX_TS }),
    value: fc.double({ noNaN: true, noDefaultInfinity: true }),
    alarm: fc.boolean(),
  },
  { requiredKeys: ['sensor', 'metric', 'ts', 'value'] },
);

const validBatch: fc.Arbitrary<TelemetryBatch> = fc.record({
  boot: fc.integer({ min: 0, max: 0xffffffff }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  readings: fc.array(reading, { minLength: 1, maxLength: 12 }),
});

const selfDescribing = new Packr({ useRecords: true });

/** The wire forms a client may send: ours (shared records), plain msgpack, inline records, JSON. */
const WIRE = ['records', 'plain', 'inline-records', 'json'] as const;
type Wire = (typeof WIRE)[number];

function toWire(codec: TelemetryCodec, batch: TelemetryBatch, wire: Wire): Buffer {
  switch (wire) {
    case 'records':
      return codec.encode(batch);
    case 'plain':
      return pack(batch);
    case 'inline-records':
      return selfDescribing.pack(batch);
    case 'json':
      return Buffer.from(JSON.stringify(batch));
  }
}

/** msgpack heads that declare far more than follows (RFC-less, but msgpack spec "formats"). */
const LENGTH_LIES: readonly number[][] = [
  [0xdd, 0xff, 0xff, 0xff, 0xff], // array 32 of 4 G items
  [0xdc, 0xff, 0xff], // array 16
  [0xdf, 0xff, 0xff, 0xff, 0xff], // map 32
  [0xde, 0xff, 0xff], // map 16
  [0xdb, 0x7f, 0xff, 0xff, 0xff], // str 32 of 2 GB
  [0xda, 0xff, 0xff], // str 16
  [0xd9, 0xff], // str 8
  [0xc6, 0x7f, 0xff, 0xff, 0xff], // bin 32
  [0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01], // ext 32
  [0xd4, 0x72], // msgpackr record definition, truncated
  [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // uint64 max
  [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], // int64 min
  [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], // float64 NaN
  [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], // float64 +Infinity
  [0xca, 0xff, 0x80, 0, 0], // float32 -Infinity
];

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'lie'; at: number; lie: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('lie' as const), at: fc.nat(), lie: fc.integer({ min: 0, max: LENGTH_LIES.length - 1 }) }),
);

function mutate(source: Buffer, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(source);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    switch (m.op) {
      case 'flip':
        if (bytes.length > 0) bytes[at]! ^= 1 << m.bit;
        break;
      case 'set':
        if (bytes.length > 0) bytes[at] = m.byte;
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.count)]);
        break;
      case 'lie':
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(LENGTH_LIES[m.lie]!), bytes.subarray(at)]);
        break;
    }
  }
  return bytes;
}

/** -0 travels as the integer 0 in msgpack and as 0 in JSON: the same reading, so compared as 0. */
function sameReadings(batch: TelemetryBatch): unknown {
  return JSON.parse(JSON.stringify(batch));
}


interface Outcome {
  readonly batch?: TelemetryBatch;
  readonly code?: string;
  readonly ms: number;
}

/** Decodes; a throw that is not a coded protocol error fails the property right here. */
function decodeOutcome(codec: TelemetryCodec, bytes: Uint8Array): Outcome {
  const t0 = performance.now();
  try {
    const batch = codec.decode(bytes);
    return { batch, ms: performance.now() - t0 };
  } catch (err) {
    const ms = performance.now() - t0;
    if (!(err instanceof CityopsError)) throw new Error(`decode threw a non-coded ${String(err)}`, { cause: err });
    expect(err.code).toMatch(/^PROTOCOL_ERR_[A-Z_]+$/);
    expect(err.statusCode).toBeGreaterThanOrEqual(400);
    expect(err.statusCode).toBeLessThan(500);
    return { code: err.code, ms };
  }
}

/** What a decoded batch must satisfy: within the schema's bounds, and it re-encodes to itself. */
function checkAccepted(codec: TelemetryCodec, batch: TelemetryBatch): void {
  expect(Number.isSafeInteger(batch.boot) && batch.boot >= 0 && batch.boot <= 0xffffffff).toBe(true);
  expect(Number.isSafeInteger(batch.seq) && batch.seq >= 0 && batch.seq <= 0xffffffff).toBe(true);
  expect(batch.readings.length).toBeGreaterThanOrEqual(1);
  expect(batch.readings.length).toBeLessThanOrEqual(MAX_READINGS_PER_BATCH);
  for (const r of batch.readings) {
    expect(Number.isFinite(r.value)).toBe(true);
    expect(Number.isSafeInteger(r.ts) && r.ts >= 0 && r.ts <= MAX_TS).toBe(true);
  }
  expect(sameReadings(codec.decode(codec.encode(batch)))).toEqual(sameReadings(batch));
}

const GOLDEN: TelemetryBatch = { boot: 3, seq: 42, readings: [{ sensor: 'pm25-1', metric: 'pm25', ts: 1_764_000_000_000, value: 35.5 }] };

/**
 * One codec decodes every hostile input of a property, as ingest's pipeline does; after each, our
 * own golden batch must still decode the same (no decoder state left behind by an attacker).
 */
function hostileDecode(codec: TelemetryCodec, bytes: Uint8Array, stats: { maxMs: number; codes: Map<string, number> }): void {
  const outcome = decodeOutcome(codec, bytes);
  stats.maxMs = Math.max(stats.maxMs, outcome.ms <= MAX_DECODE_MS / 2 ? outcome.ms : steadyMs(() => codec.decode(bytes), 0));
  const key = outcome.code ?? 'DECODED';
  stats.codes.set(key, (stats.codes.get(key) ?? 0) + 1);
  if (outcome.batch !== undefined) checkAccepted(codec, outcome.batch);
  expect(codec.decode(codec.encode(GOLDEN))).toEqual(GOLDEN);
}

function newStats() {
  return { maxMs: 0, codes: new Map<string, number>() };
}

describe('telemetry decoder under hostile input', () => {
  it('round-trips every valid batch in every wire form', () => {
    const codec = createTelemetryCodec();
    fc.assert(
      fc.property(validBatch, fc.constantFrom(...WIRE), (batch, wire) => {
        expect(sameReadings(codec.decode(toWire(codec, batch, wire)))).toEqual(sameReadings(batch));
      }),
      { numRuns: 300 },
    );
  });

  it('answers arbitrary bytes with a PROTOCOL_ERR_* code or a batch that round-trips, quickly', () => {
    const codec = createTelemetryCodec();
    const stats = newStats();
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      // Starting where the decoder branches: JSON, shared records, inline records, plain msgpack.
      fc.tuple(fc.constantFrom(0x7b, 0x20, 0x40, 0x41, 0x42, 0x7f, 0xd4, 0x83, 0x93, 0xdf), fc.uint8Array({ maxLength: 512 })).map(
        ([first, rest]) => Buffer.concat([Buffer.from(first === 0xd4 ? [0xd4, 0x72] : [first]), rest]),
      ),
    );
    fc.assert(
      fc.property(bytes, (input) => hostileDecode(codec, input, stats)),
      { numRuns: 3000 },
    );
    expect(stats.maxMs).toBeLessThan(MAX_DECODE_MS);
    expect(stats.codes.get('PROTOCOL_ERR_PAYLOAD_DECODE') ?? 0).toBeGreaterThan(0);
  });

  it('keeps its shared structures when a payload redefines one inline (0xd4 0x72 0x40), read whole or not', () => {
    // Found by the mutation property below (seed -2020181604): a batch whose record definition
    // overwrote shared slot 0x40 left it overwritten, and every later batch failed to decode.
    const codec = createTelemetryCodec();
    const hostile = Buffer.from(
      '42ecd4724093a4626f6f74a3736571a872656164696e6773000095d4724195a673656e736f72a66d6574726963a27473a576616c7565a5616c61726da7695f30582e3135a97a3464635f38635f69cb42cb9b6fac1b4400cb8445c182f4d57924c341ac31' +
        '314c342d316866722e3875a7746131315f3833cb42d4d3b33d8f8b00cbc49d071787c208c5c241a6326b6c30442ea6733076343768cb42caa897bff1b580cb83837c205a5fade2c2d4724294a673656e736f72a66d6574726963a27473a576616c7565ac' +
        '717931345f692d315a302e5fa2706bcb42d69ae4fdbea5c0cbd8dcbe0525f300d341a74976342e2e3469a86a366f5f6d5f395fcb42dce5ac443b1bc0cbcbd0c3d5ab459fe7c3',
      'hex',
    );
    expect(() => codec.decode(hostile)).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERR_PAYLOAD_DECODE' }));
    expect(codec.decode(codec.encode(GOLDEN))).toEqual(GOLDEN);
    // A definition over slot 0x40 in a payload that reads whole is undone as well.
    const redefined = Buffer.concat([Buffer.from([0xd4, 0x72, 0x40]), codec.encode(GOLDEN).subarray(1)]);
    try {
      codec.decode(redefined);
    } catch {
      // either outcome; what matters is the next batch
    }
    expect(codec.decode(codec.encode(GOLDEN))).toEqual(GOLDEN);
  });

  it('answers mutated valid batches (bit flips, truncation, insertions, length-field lies) with a code or a batch', () => {
    const codec = createTelemetryCodec();
    const stats = newStats();
    fc.assert(
      fc.property(validBatch, fc.constantFrom(...WIRE), fc.array(mutation, { minLength: 1, maxLength: 4 }), (batch, wire, mutations) => {
        hostileDecode(codec, mutate(toWire(codec, batch, wire), mutations), stats);
      }),
      { numRuns: 2000 },
    );
    expect(stats.maxMs).toBeLessThan(MAX_DECODE_MS);
    // The mutations reach both layers: the parser and the schema, and some survive as batches.
    for (const code of ['PROTOCOL_ERR_PAYLOAD_DECODE', 'PROTOCOL_ERR_SCHEMA', 'DECODED']) expect(stats.codes.get(code) ?? 0).toBeGreaterThan(0);
  });

  it('answers wrong types, NaN, Infinity, -0, bigints and extreme timestamps in any field with a code or a batch', () => {
    const codec = createTelemetryCodec();
    const stats = newStats();
    const hostileValue = fc.oneof(
      fc.constantFrom<unknown>(Number.NaN, Infinity, -Infinity, -0, -1, 0.5, 2 ** 32, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE),
      fc.constantFrom<unknown>(MAX_TS, MAX_TS + 1, 8.64e15 + 1, -8.64e15 - 1, 1e300, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n),
      fc.constantFrom<unknown>(null, true, '', '1', 'NaN', '__proto__', [], {}, [1], { valueOf: 1 }, new Uint8Array(3)),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.anything({ maxDepth: 3, withBigInt: true, withBoxedValues: false, withMap: false, withSet: false, withTypedArray: true, withNullPrototype: true }),
    );
    const fieldPath = fc.constantFrom(
      ['boot'],
      ['seq'],
      ['readings'],
      ['readings', 0],
      ['readings', 0, 'sensor'],
      ['readings', 0, 'metric'],
      ['readings', 0, 'ts'],
      ['readings', 0, 'value'],
      ['readings', 0, 'alarm'],
      ['readings', 0, '__proto__'],
      ['extra'],
    );
    const plainPackr = new Packr({ useRecords: false, variableMapSize: true });
    fc.assert(
      fc.property(validBatch, fieldPath, hostileValue, fc.boolean(), (batch, path, value, asJson) => {
        const doc = structuredClone(batch) as unknown as Record<string | number, unknown>;
        let parent: Record<string | number, unknown> = doc;
        for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
        Object.defineProperty(parent, path[path.length - 1]!, { value, enumerable: true, configurable: true, writable: true });
        let bytes: Buffer;
        try {
          bytes = asJson ? Buffer.from(JSON.stringify(doc) ?? 'null') : plainPackr.pack(doc);
        } catch {
          return; // not expressible on this wire (a bigint in JSON): nothing to send
        }
        hostileDecode(codec, bytes, stats);
      }),
      { numRuns: 1200 },
    );
    expect(stats.maxMs).toBeLessThan(MAX_DECODE_MS);
    expect(stats.codes.get('PROTOCOL_ERR_SCHEMA') ?? 0).toBeGreaterThan(0);
  });

  /** External memory (Buffers) a call allocates, before a collection could hide it. */
  function externalGrowth(fn: () => void): number {
    const before = process.memoryUsage().arrayBuffers;
    fn();
    return process.memoryUsage().arrayBuffers - before;
  }

  it('refuses deep nesting and huge declared lengths quickly and without allocating what they declare', () => {
    const codec = createTelemetryCodec();
    const deep = 200_000;
    const cases: [string, Buffer][] = [
      ['msgpack arrays nested 200k deep', Buffer.concat([Buffer.alloc(deep, 0x91), Buffer.from([0x01])])],
      ['msgpack maps nested 200k deep', Buffer.concat([Buffer.alloc(deep * 3).fill(Buffer.from([0x81, 0xa1, 0x61])), Buffer.from([0x01])])],
      ['records nested 200k deep', Buffer.concat([Buffer.from([0x40, 0x01, 0x01]), Buffer.alloc(deep, 0x91), Buffer.from([0x01])])],
      ['JSON nested 200k deep', Buffer.from(`{"boot":1,"seq":1,"readings":${'['.repeat(deep)}${']'.repeat(deep)}}`)],
      ['JSON unterminated 200k deep', Buffer.from(`{"readings":${'[{"a":'.repeat(deep)}`)],
      ...LENGTH_LIES.map((lie, i): [string, Buffer] => [`length lie ${i}`, Buffer.concat([Buffer.from([0x83, 0xa4, ...Buffer.from('boot'), 0x01, 0xa3, ...Buffer.from('seq'), 0x01, 0xa8, ...Buffer.from('readings')]), Buffer.from(lie), Buffer.alloc(16, 0x01)])]),
      ...LENGTH_LIES.map((lie, i): [string, Buffer] => [`bare length lie ${i}`, Buffer.from(lie)]),
      ['4 G readings declared in a record', Buffer.from([0x40, 0x01, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x41])],
      ['a 1 MB string field', Buffer.from(JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 'x'.repeat(1_000_000), metric: 'm', ts: 1, value: 1 }] }))],
      ['10 001 readings', pack({ boot: 1, seq: 1, readings: Array.from({ length: MAX_READINGS_PER_BATCH + 1 }, () => ({ sensor: 's', metric: 'm', ts: 1, value: 1 })) })],
    ];
    for (const [name, bytes] of cases) {
      let outcome: Outcome | undefined;
      const growth = externalGrowth(() => {
        outcome = decodeOutcome(codec, bytes);
      });
      expect(outcome?.code, name).toMatch(/^PROTOCOL_ERR_(PAYLOAD_DECODE|SCHEMA|PAYLOAD_TOO_LARGE)$/);
      expect(outcome!.ms < 3000 ? outcome!.ms : steadyMs(() => codec.decode(bytes), 0), name).toBeLessThan(3000);
      // At most a copy of the input and a few MB of the decoder's own: never the gigabytes declared.
      expect(growth, name).toBeLessThan(bytes.length * 2 + 8 * 1024 * 1024);
    }
    expect(codec.decode(codec.encode(GOLDEN))).toEqual(GOLDEN);
  });

  it('never lets a __proto__ key lend a batch or a reading the fields it lacks', () => {
    const codec = createTelemetryCodec();
    const plainPackr = new Packr({ useRecords: false });
    const smuggle = (own: Record<string, unknown>, inherited: Record<string, unknown>) => {
      Object.defineProperty(own, '__proto__', { value: inherited, enumerable: true, configurable: true, writable: true });
      return own;
    };
    const reading = { sensor: 's', metric: 'm', ts: 1, value: 1 };
    const docs = [
      { boot: 1, seq: 1, readings: [smuggle({}, reading)] },
      smuggle({ readings: [reading] }, { boot: 1, seq: 2 }),
      smuggle({ boot: 1, seq: 3, readings: [reading] }, { readings: [reading] }),
    ];
    for (const doc of docs) {
      for (const bytes of [plainPackr.pack(doc), selfDescribing.pack(doc)]) {
        const outcome = decodeOutcome(codec, bytes);
        if (outcome.batch !== undefined) checkAccepted(codec, outcome.batch);
        else expect(outcome.code).toBe('PROTOCOL_ERR_SCHEMA');
      }
    }
    const json = Buffer.from(`{"boot":1,"seq":1,"readings":[{"__proto__":${JSON.stringify(reading)}}]}`);
    expect(decodeOutcome(codec, json).code).toBe('PROTOCOL_ERR_SCHEMA');
  });

  it('refuses anything above the size limit before reading it', () => {
    const codec = createTelemetryCodec({ maxPayloadBytes: 1024 });
    fc.assert(
      fc.property(fc.integer({ min: 1025, max: 64 * 1024 }), fc.integer({ min: 0, max: 255 }), (size, fill) => {
        expect(decodeOutcome(codec, Buffer.alloc(size, fill)).code).toBe('PROTOCOL_ERR_PAYLOAD_TOO_LARGE');
      }),
      { numRuns: 100 },
    );
    expect(decodeOutcome(codec, new Uint8Array(0)).code).toBe('PROTOCOL_ERR_PAYLOAD_EMPTY');
  });
});
