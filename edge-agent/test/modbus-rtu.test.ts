import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reading } from '@cityops/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startModbusServer, type ModbusServer } from '../../test-peers/modbus-server.ts';
import { startPtyPair, type PtyPair } from '../../test-peers/socat-pty.ts';
import { createModbusSource, encodeRegister, probeRegisterMap, type RegisterMapInput } from '../src/index.ts';

// Modbus RTU over a serial line: a pseudo-terminal pair made by Debian's socat stands in for the
// RS-485 adapter; pymodbus 3.0.0 is the slave on the far end, modbus-serial (through serialport)
// the master on the near end, framing and CRC as on a real line. No parity and 2 stop bits (serial
// line spec §2.5.1): a Linux pty refuses tcsetattr with EINVAL once parity was set on it.

const silent = pino({ level: 'silent' });
let dir: string;
let pty: PtyPair;
let server: ModbusServer;

function rtuMap(registers: RegisterMapInput['registers']): RegisterMapInput {
  return { connection: { kind: 'rtu', path: pty.device, baudRate: 19_200, parity: 'none', dataBits: 8, stopBits: 2 }, timeoutMs: 1000, retries: 1, registers };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-modbus-rtu-'));
  pty = await startPtyPair(dir);
  server = await startModbusServer({ kind: 'rtu', path: pty.peer, baudRate: 19_200, parity: 'N', dataBits: 8, stopBits: 2 });
  await server.set(7, 'ir', 10, encodeRegister({ type: 'float32', wordOrder: 'little', byteOrder: 'big' }, 1.875));
  await server.set(7, 'ir', 12, [812]);
  await server.set(8, 'hr', 0, encodeRegister({ type: 'int32', wordOrder: 'big', byteOrder: 'little' }, -40_000));
});

afterAll(async () => {
  await server?.stop();
  await pty?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Modbus RTU source over a socat pty pair against pymodbus', () => {
  it('reads two units on one line, values scaled, adjacent registers in one request; a dropped unit falls silent and comes back', async () => {
    const source = createModbusSource(
      rtuMap([
        { sensor: 'wp-1', metric: 'water_pressure', unit: 7, table: 'input', address: 10, type: 'float32', wordOrder: 'little', intervalMs: 50 },
        { sensor: 'wl-1', metric: 'water_level', unit: 7, table: 'input', address: 12, type: 'uint16', scale: 0.01, alarm: { above: 8 }, intervalMs: 50 },
        { sensor: 'flow-1', metric: 'water_flow', unit: 8, table: 'holding', address: 0, type: 'int32', byteOrder: 'little', scale: 0.001, intervalMs: 50 },
      ]),
      { logger: silent },
    );
    const got: Reading[] = [];
    const consuming = (async () => {
      for await (const reading of source) got.push(reading);
    })();
    try {
      await vi.waitFor(() => expect(new Set(got.map((r) => r.sensor)).size).toBe(3), { timeout: 15_000 });
      expect(got.find((r) => r.sensor === 'wp-1')).toMatchObject({ metric: 'water_pressure', value: 1.875 });
      expect(got.find((r) => r.sensor === 'wl-1')).toMatchObject({ metric: 'water_level', value: 8.12, alarm: true });
      expect(got.find((r) => r.sensor === 'flow-1')?.value).toBeCloseTo(-40, 6);
      // Unit 7's two registers (10..12) in one request per poll: polls = requests, two per round.
      const { polls, readings } = source.stats();
      expect(readings).toBeGreaterThanOrEqual(polls * 1.5 - 2);

      await server.drop(8);
      await vi.waitFor(() => expect(source.health().find((h) => h.sensor === 'flow-1')?.state).toBe('timeout'), { timeout: 15_000 });
      const flowSilent = got.filter((r) => r.sensor === 'flow-1').length;
      const levelBefore = got.filter((r) => r.sensor === 'wl-1').length;
      await vi.waitFor(() => expect(got.filter((r) => r.sensor === 'wl-1').length).toBeGreaterThan(levelBefore + 2), { timeout: 15_000 });
      expect(got.filter((r) => r.sensor === 'flow-1').length).toBe(flowSilent);

      await server.restore(8);
      await vi.waitFor(() => expect(got.filter((r) => r.sensor === 'flow-1').length).toBeGreaterThan(flowSilent), { timeout: 15_000 });
      expect(source.health().every((h) => h.state === 'ok')).toBe(true);
      expect(source.stats().timeouts).toBeGreaterThanOrEqual(1);
    } finally {
      await source.stop();
      await consuming;
    }
  });

  it('probe over RTU: a value, an exception and a unit nobody is', async () => {
    const outcomes = await probeRegisterMap(
      rtuMap([
        { sensor: 'wl-1', metric: 'water_level', unit: 7, table: 'input', address: 12, type: 'uint16', scale: 0.01 },
        { sensor: 'nothing', metric: 'water_level', unit: 7, table: 'input', address: 200 },
        { sensor: 'nobody', metric: 'water_level', unit: 99, table: 'input', address: 0 },
      ]),
    );
    expect(outcomes.map((o) => [o.sensor, o.ok, o.code, o.value])).toEqual([
      ['wl-1', true, undefined, 8.12],
      ['nothing', false, 'AGENT_ERR_MODBUS_EXCEPTION', undefined],
      ['nobody', false, 'AGENT_ERR_MODBUS_TIMEOUT', undefined],
    ]);
  });
});
