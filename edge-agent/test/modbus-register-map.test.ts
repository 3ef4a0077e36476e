import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRegister, encodeRegister, parseRegisterMap, planReads, validateRegisterMap, type RegisterMapInput } from '../src/index.ts';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'pm25-noise-water-station.modbus.json');

const base = (registers: unknown[], connection: unknown = { kind: 'tcp', host: '10.0.0.2' }): unknown => ({ connection, registers });
const reg = (over: Record<string, unknown>) => ({ sensor: 's', metric: 'level', unit: 1, table: 'holding', address: 0, ...over });

describe('register map validation', () => {
  it('accepts the example station map, with defaults filled in and the map frozen', async () => {
    const result = validateRegisterMap(JSON.parse(await readFile(EXAMPLE, 'utf8')));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.map.registers).toHaveLength(9);
    expect(result.map.registers[0]).toMatchObject({ wordOrder: 'big', byteOrder: 'big', offset: 0 });
    expect(result.map.registers.find((r) => r.table === 'coil')?.type).toBe('bool');
    expect(Object.isFrozen(result.map.registers[0])).toBe(true);
    // unit 1: input 0..2 in one request; unit 2: one; unit 3: holding 100..104, coil, discrete.
    expect(planReads(result.map).map((r) => `${r.unit}/${r.table}/${r.address}+${r.count}`)).toEqual([
      '1/input/0+3',
      '2/holding/0+2',
      '3/holding/100+5',
      '3/coil/0+1',
      '3/discrete/0+1',
    ]);
  });

  it('a map with every field wrong reports every problem at once, each with its path', () => {
    const result = validateRegisterMap({
      connection: { kind: 'tcp', host: '', port: 70_000, baud: 9600 },
      timeoutMs: -1,
      retries: 'two',
      registers: [
        { sensor: 'bad id/with slash', metric: 'PM25', unit: 300, table: 'flash', address: 70_000, type: 'int64', wordOrder: 'middle', scale: Number.NaN, intervalMs: 0, alarm: {} },
      ],
      extra: true,
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const text = result.problems.join('\n');
    for (const path of [
      '/connection/host',
      '/connection/port',
      '/connection must NOT have additional properties (baud)',
      '/timeoutMs',
      '/retries',
      '/registers/0/sensor',
      '/registers/0/metric',
      '/registers/0/unit',
      '/registers/0/table',
      '/registers/0/address',
      '/registers/0/type',
      '/registers/0/wordOrder',
      '/registers/0/intervalMs',
      '/registers/0/alarm',
      '/ must NOT have additional properties (extra)',
    ]) {
      expect(text, path).toContain(path);
    }
  });

  it('says what the schema cannot: types per table, widths, serial unit range, repeats, alarm bands', () => {
    const result = validateRegisterMap(
      base(
        [
          reg({ sensor: 'a', table: 'coil', type: 'float32' }),
          reg({ sensor: 'b', table: 'input', type: 'bool' }),
          reg({ sensor: 'c', address: 65_535, type: 'uint32' }),
          reg({ sensor: 'd', unit: 0 }),
          reg({ sensor: 'e', scale: 0 }),
          reg({ sensor: 'f', alarm: { below: 5, above: 1 } }),
          reg({ sensor: 'f', address: 9 }),
        ],
        { kind: 'rtu', path: '/dev/ttyUSB0' },
      ),
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        '/registers/0/type must be bool for a coil (one bit), not float32',
        '/registers/1/type bool is for coils and discrete inputs; a input register is int16, uint16, int32, uint32 or float32',
        '/registers/2/address 65535 leaves no room for the second register of a uint32',
        '/registers/3/unit 0 must be 1..247 on a serial line',
        '/registers/4/scale must not be 0 (every reading would be the offset)',
        '/registers/5/alarm/below (5) must be under above (1)',
        '/registers/6 repeats sensor f metric level of /registers/5',
      ],
    });
  });

  it('refuses garbage whole, and parseRegisterMap throws AGENT_ERR_MODBUS_MAP', () => {
    for (const garbage of [null, 42, 'map', [], {}, { connection: null, registers: {} }, { connection: { kind: 'serial' }, registers: [] }]) {
      expect(validateRegisterMap(garbage).ok, JSON.stringify(garbage)).toBe(false);
    }
    let thrown: { code?: string; message?: string } = {};
    try {
      parseRegisterMap({ connection: { kind: 'tcp', host: 'h' }, registers: [] });
    } catch (err) {
      thrown = err as typeof thrown;
    }
    expect(thrown.code).toBe('AGENT_ERR_MODBUS_MAP');
    expect(thrown.message).toContain('/registers must NOT have fewer than 1 items');
    const huge = base(Array.from({ length: 10_001 }, (_, i) => reg({ sensor: `s${i}`, address: i % 65_000 })));
    expect(validateRegisterMap(huge)).toEqual({ ok: false, problems: ['/registers must NOT have more than 10000 items'] });
  });

  it('does not touch the input it validates', () => {
    const input = base([reg({})]);
    const before = JSON.stringify(input);
    expect(validateRegisterMap(input).ok).toBe(true);
    expect(JSON.stringify(input)).toBe(before);
  });
});

describe('read planning', () => {
  const plan = (registers: unknown[], maxGap = 0) => planReads(parseRegisterMap({ ...(base(registers) as RegisterMapInput), maxGap }));

  it('joins adjacent registers of one unit, table and interval; splits on a gap, another unit or interval', () => {
    const requests = plan([
      reg({ sensor: 'a', address: 3, type: 'float32' }),
      reg({ sensor: 'b', address: 5 }),
      reg({ sensor: 'c', address: 0 }),
      reg({ sensor: 'd', address: 8 }),
      reg({ sensor: 'e', address: 6, unit: 2 }),
      reg({ sensor: 'f', address: 6, intervalMs: 1000 }),
    ]);
    expect(requests.map((r) => [r.unit, r.address, r.count, r.intervalMs, r.registers.map((x) => `${x.spec.sensor}@${x.at}`).join(',')])).toEqual([
      [1, 0, 1, 5000, 'c@0'],
      [1, 3, 3, 5000, 'a@0,b@2'],
      [1, 8, 1, 5000, 'd@0'],
      [2, 6, 1, 5000, 'e@0'],
      [1, 6, 1, 1000, 'f@0'],
    ]);
    // With maxGap 2 the holes at 1..2 and 4..5 are read along; 3 unread registers are not.
    expect(plan([reg({ sensor: 'c', address: 0 }), reg({ sensor: 'a', address: 3 }), reg({ sensor: 'd', address: 6 }), reg({ sensor: 'g', address: 10 })], 2).map((r) => [r.address, r.count])).toEqual([
      [0, 7],
      [10, 1],
    ]);
  });

  it('keeps every request within 125 registers and 2000 bits (Modbus Application Protocol §6.1-6.4)', () => {
    const words = plan(Array.from({ length: 300 }, (_, i) => reg({ sensor: `r${i}`, address: i })));
    expect(words.map((r) => r.count)).toEqual([125, 125, 50]);
    const bits = plan(Array.from({ length: 4100 }, (_, i) => reg({ sensor: `c${i}`, table: 'coil', address: i })));
    expect(bits.map((r) => r.count)).toEqual([2000, 2000, 100]);
    // A float32 never straddles two requests.
    const floats = plan(Array.from({ length: 63 }, (_, i) => reg({ sensor: `f${i}`, address: i * 2, type: 'float32' })));
    expect(floats.map((r) => r.count)).toEqual([124, 2]);
  });
});

describe('register decoding', () => {
  const orders = fc.record({ wordOrder: fc.constantFrom('big' as const, 'little' as const), byteOrder: fc.constantFrom('big' as const, 'little' as const) });

  it('round-trips every type in every word and byte order', () => {
    const cases = [
      { type: 'int16' as const, value: fc.integer({ min: -32_768, max: 32_767 }) },
      { type: 'uint16' as const, value: fc.integer({ min: 0, max: 65_535 }) },
      { type: 'int32' as const, value: fc.integer({ min: -2_147_483_648, max: 2_147_483_647 }) },
      { type: 'uint32' as const, value: fc.integer({ min: 0, max: 4_294_967_295 }) },
      { type: 'float32' as const, value: fc.float({ noNaN: true, noDefaultInfinity: true }).map(Math.fround) },
    ];
    for (const { type, value } of cases) {
      fc.assert(
        fc.property(orders, value, (order, v) => {
          const spec = { type, ...order };
          expect(decodeRegister(spec, [7, ...encodeRegister(spec, v), 9], 1)).toBe(v === 0 ? 0 : v);
        }),
      );
    }
  });

  it('matches the byte layouts devices document (0x41AC0000 = 21.5 as ABCD, CDAB, BADC, DCBA)', () => {
    const f = (wordOrder: 'big' | 'little', byteOrder: 'big' | 'little', words: number[]) => decodeRegister({ type: 'float32', wordOrder, byteOrder }, words, 0);
    expect(f('big', 'big', [0x41ac, 0x0000])).toBe(21.5);
    expect(f('little', 'big', [0x0000, 0x41ac])).toBe(21.5);
    expect(f('big', 'little', [0xac41, 0x0000])).toBe(21.5);
    expect(f('little', 'little', [0x0000, 0xac41])).toBe(21.5);
    expect(decodeRegister({ type: 'int32', wordOrder: 'big', byteOrder: 'big' }, [0xffff, 0xfffe], 0)).toBe(-2);
    expect(decodeRegister({ type: 'int16', wordOrder: 'big', byteOrder: 'big' }, [0x8000], 0)).toBe(-32_768);
    expect(decodeRegister({ type: 'bool', wordOrder: 'big', byteOrder: 'big' }, [0, 1], 1)).toBe(1);
  });
});
