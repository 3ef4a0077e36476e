import type { Reading } from '@cityops/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startModbusServer, type ModbusServer } from '../../test-peers/modbus-server.ts';
import { createModbusSource, encodeRegister, probeRegisterMap, type ModbusSource, type RegisterMapInput } from '../src/index.ts';

// Against a real Modbus TCP server: Debian's pymodbus 3.0.0, with register values the test writes
// in every type and order through pymodbus itself (the words it holds are what a device would send).

const silent = pino({ level: 'silent' });
let server: ModbusServer;
const cleanups: (() => Promise<void>)[] = [];

type Spec = Parameters<typeof encodeRegister>[0];
const VALUES: { sensor: string; address: number; spec: Spec; raw: number; scale?: number; offset?: number }[] = [
  { sensor: 'i16', address: 0, spec: { type: 'int16', wordOrder: 'big', byteOrder: 'big' }, raw: -1234, scale: 0.1 },
  { sensor: 'u16', address: 1, spec: { type: 'uint16', wordOrder: 'big', byteOrder: 'big' }, raw: 65_000 },
  { sensor: 'i32-abcd', address: 2, spec: { type: 'int32', wordOrder: 'big', byteOrder: 'big' }, raw: -123_456_789 },
  { sensor: 'u32-cdab', address: 4, spec: { type: 'uint32', wordOrder: 'little', byteOrder: 'big' }, raw: 4_000_000_000, scale: 0.001, offset: -5 },
  { sensor: 'f32-badc', address: 6, spec: { type: 'float32', wordOrder: 'big', byteOrder: 'little' }, raw: 21.5 },
  { sensor: 'f32-dcba', address: 8, spec: { type: 'float32', wordOrder: 'little', byteOrder: 'little' }, raw: -3.25, scale: 2 },
  { sensor: 'i32-cdab', address: 10, spec: { type: 'int32', wordOrder: 'little', byteOrder: 'big' }, raw: 7_654_321 },
  { sensor: 'u16-ba', address: 12, spec: { type: 'uint16', wordOrder: 'big', byteOrder: 'little' }, raw: 0x1234 },
];

function tcpMap(registers: RegisterMapInput['registers'], extra: Partial<RegisterMapInput> = {}): RegisterMapInput {
  // 2 s: under a loaded machine pymodbus may be slow; only the tests that want timeouts shorten it.
  return { connection: { kind: 'tcp', host: '127.0.0.1', port: server.port }, timeoutMs: 2000, retries: 1, registers, ...extra };
}

function collect(source: ModbusSource): Reading[] {
  const got: Reading[] = [];
  void (async () => {
    for await (const reading of source) got.push(reading);
  })();
  cleanups.push(() => source.stop());
  return got;
}

const latest = (got: readonly Reading[], sensor: string) => got.filter((r) => r.sensor === sensor).at(-1);

beforeAll(async () => {
  server = await startModbusServer({ kind: 'tcp' });
  for (const v of VALUES) await server.set(1, 'hr', v.address, encodeRegister(v.spec, v.raw));
  await server.set(1, 'ir', 0, [1234, 300]);
  await server.set(1, 'co', 0, [true, false]);
  await server.set(1, 'di', 3, [true]);
  await server.set(2, 'hr', 0, [42]);
});

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await server?.stop();
});

describe('Modbus TCP source against pymodbus', () => {
  it('reads every type and order, scaled, with alarms, adjacent registers in one request', async () => {
    const registers: RegisterMapInput['registers'] = [
      ...VALUES.map((v) => ({ sensor: v.sensor, metric: 'level', unit: 1, table: 'holding' as const, address: v.address, ...v.spec, scale: v.scale ?? 1, offset: v.offset ?? 0, intervalMs: 60_000 })),
      { sensor: 'pm-1', metric: 'pm25', unit: 1, table: 'input', address: 0, type: 'uint16', scale: 0.1, alarm: { above: 75 }, intervalMs: 60_000 },
      { sensor: 'pm-2', metric: 'pm25', unit: 1, table: 'input', address: 1, type: 'uint16', scale: 0.1, alarm: { above: 75 }, intervalMs: 60_000 },
      { sensor: 'pump', metric: 'pump_running', unit: 1, table: 'coil', address: 0, intervalMs: 60_000 },
      { sensor: 'valve', metric: 'valve_open', unit: 1, table: 'coil', address: 1, intervalMs: 60_000 },
      { sensor: 'door', metric: 'door_open', unit: 1, table: 'discrete', address: 3, intervalMs: 60_000 },
    ];
    const source = createModbusSource(tcpMap(registers), { logger: silent });
    const got = collect(source);
    await vi.waitFor(() => expect(got).toHaveLength(registers.length), { timeout: 10_000 });
    for (const v of VALUES) {
      const expected = v.raw * (v.scale ?? 1) + (v.offset ?? 0);
      expect(latest(got, v.sensor)?.value, v.sensor).toBeCloseTo(expected, 3);
    }
    expect(latest(got, 'pm-1')).toMatchObject({ metric: 'pm25', alarm: true });
    expect(latest(got, 'pm-1')?.value).toBeCloseTo(123.4, 5);
    expect(latest(got, 'pm-2')?.alarm).toBeUndefined();
    expect(latest(got, 'pm-2')?.value).toBeCloseTo(30, 5);
    expect([latest(got, 'pump')?.value, latest(got, 'valve')?.value, latest(got, 'door')?.value]).toEqual([1, 0, 1]);
    // holding 0..13, input 0..1, coils 0..1, discrete 3: four requests for 13 registers.
    expect(source.stats()).toMatchObject({ polls: 4, readings: 13, alarms: 1, exceptions: 0, timeouts: 0, sensorsFailing: 0 });
    expect(source.stats().bus.requests).toBe(4);
  });

  it('turns an exception into a failing sensor and a counter while the other registers keep reading', async () => {
    const source = createModbusSource(
      tcpMap([
        { sensor: 'good', metric: 'level', unit: 1, table: 'holding', address: 1, type: 'uint16', intervalMs: 50 },
        // Nothing at 500: pymodbus answers exception 2 (illegal data address).
        { sensor: 'ghost', metric: 'level', unit: 1, table: 'holding', address: 500, intervalMs: 50 },
      ]),
      { logger: silent },
    );
    const got = collect(source);
    await vi.waitFor(() => expect(source.stats().exceptions).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    expect(got.filter((r) => r.sensor === 'good').length).toBeGreaterThanOrEqual(2);
    expect(got.some((r) => r.sensor === 'ghost')).toBe(false);
    expect(source.health().find((h) => h.sensor === 'ghost')).toMatchObject({ state: 'exception', code: 'AGENT_ERR_MODBUS_EXCEPTION', modbusCode: 2 });
    expect(source.stats()).toMatchObject({ sensorsFailing: 1, timeouts: 0 });
    // An exception is an answer: it is not retried.
    expect(source.stats().bus.retries).toBe(0);
  });

  it('a unit that stops answering falls silent (timeouts, retried) and reads again when it is back', async () => {
    const source = createModbusSource(
      tcpMap([
        { sensor: 'steady', metric: 'level', unit: 1, table: 'holding', address: 1, type: 'uint16', intervalMs: 50 },
        { sensor: 'flaky', metric: 'level', unit: 2, table: 'holding', address: 0, type: 'uint16', intervalMs: 50 },
      ], { timeoutMs: 300 }),
      { logger: silent },
    );
    const got = collect(source);
    await vi.waitFor(() => expect(latest(got, 'flaky')?.value).toBe(42), { timeout: 10_000 });
    await server.drop(2);
    await vi.waitFor(() => expect(source.stats().timeouts).toBeGreaterThanOrEqual(2), { timeout: 15_000 });
    expect(source.health().find((h) => h.sensor === 'flaky')).toMatchObject({ state: 'timeout', code: 'AGENT_ERR_MODBUS_TIMEOUT' });
    expect(source.stats().bus.retries).toBeGreaterThanOrEqual(2);
    const silentSince = got.filter((r) => r.sensor === 'flaky').length;
    const steadyBefore = got.filter((r) => r.sensor === 'steady').length;
    await vi.waitFor(() => expect(got.filter((r) => r.sensor === 'steady').length).toBeGreaterThan(steadyBefore + 2), { timeout: 10_000 });
    // At most one reading answered between the drop and the first timeout; none after.
    expect(got.filter((r) => r.sensor === 'flaky').length).toBeLessThanOrEqual(silentSince + 1);
    await server.set(2, 'hr', 0, [43]);
    await server.restore(2);
    await vi.waitFor(() => expect(latest(got, 'flaky')?.value).toBe(43), { timeout: 10_000 });
    expect(source.health().find((h) => h.sensor === 'flaky')?.state).toBe('ok');
    await vi.waitFor(() => expect(source.stats().sensorsFailing).toBe(0), { timeout: 10_000 });
  });

  it('stop() ends the iteration after yielding what was polled; nothing polled is lost', async () => {
    const source = createModbusSource(
      tcpMap([{ sensor: 'u16', metric: 'level', unit: 1, table: 'holding', address: 1, type: 'uint16', intervalMs: 10 }], { maxQueuedReadings: 5 }),
      { logger: silent },
    );
    source.start();
    // Nobody consumes: polling stops at the bound instead of piling readings up.
    await vi.waitFor(() => expect(source.stats().queued).toBe(5), { timeout: 10_000 });
    const polls = source.stats().polls;
    await source.stop();
    expect(source.stats().polls).toBe(polls);
    const got: Reading[] = [];
    for await (const reading of source) got.push(reading);
    expect(got).toHaveLength(source.stats().readings);
    expect(got.every((r) => r.value === 65_000)).toBe(true);
  });

  it('probe reads every register once and reports each outcome', async () => {
    const outcomes = await probeRegisterMap(
      tcpMap([
        { sensor: 'u16', metric: 'level', unit: 1, table: 'holding', address: 1, type: 'uint16' },
        { sensor: 'ghost', metric: 'level', unit: 1, table: 'holding', address: 600 },
        { sensor: 'absent-unit', metric: 'level', unit: 9, table: 'input', address: 0 },
      ], { retries: 0, timeoutMs: 500 }),
    );
    expect(outcomes).toEqual([
      { sensor: 'u16', metric: 'level', unit: 1, table: 'holding', address: 1, ok: true, value: 65_000, alarm: false },
      expect.objectContaining({ sensor: 'ghost', ok: false, code: 'AGENT_ERR_MODBUS_EXCEPTION', modbusCode: 2 }),
      expect.objectContaining({ sensor: 'absent-unit', ok: false, code: 'AGENT_ERR_MODBUS_TIMEOUT' }),
    ]);
  });

  it('a bus nobody listens on is a transport error per poll, never a crash', async () => {
    const closed = await startModbusServer({ kind: 'tcp' });
    const port = closed.port;
    await closed.stop();
    const source = createModbusSource(
      { connection: { kind: 'tcp', host: '127.0.0.1', port }, timeoutMs: 200, retries: 0, registers: [{ sensor: 'x', metric: 'level', unit: 1, table: 'holding', address: 0, intervalMs: 20 }] },
      { logger: silent },
    );
    collect(source);
    await vi.waitFor(() => expect(source.stats().transportErrors).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    expect(source.health()[0]).toMatchObject({ state: 'transport', code: 'AGENT_ERR_MODBUS_TRANSPORT' });
  });
});
