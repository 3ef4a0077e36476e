import { createServer, type Server, type Socket } from 'node:net';
import type { Reading } from '@cityops/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startModbusServer, type ModbusServer } from '../../test-peers/modbus-server.ts';
import { createModbusSource, type ModbusSource } from '../src/index.ts';

// A Modbus "device" on the far side of a TCP gateway is outside our control: it may answer with
// garbage, with a frame whose MBAP header declares the largest length there is and then trickles,
// with a well-formed answer of the wrong size, or hang up at once. Each must end as a counted,
// per-sensor error, never a crash, a wrong reading or growing memory; a legitimate bus polled by
// the same process beside it must see nothing of it.

const silent = pino({ level: 'silent' });
let pymodbus: ModbusServer;
const servers: Server[] = [];
const sources: ModbusSource[] = [];

async function hostile(onRequest: (socket: Socket, request: Buffer) => void): Promise<{ port: number; bytesSent: () => number }> {
  let sent = 0;
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (request) => onRequest(socket, request));
    const write = socket.write.bind(socket);
    socket.write = ((chunk: Buffer | string, ...rest: never[]) => {
      sent += chunk.length;
      return write(chunk, ...rest);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, bytesSent: () => sent };
}

function poll(port: number, sensor: string, timeoutMs = 150): { source: ModbusSource; got: Reading[] } {
  const source = createModbusSource(
    {
      connection: { kind: 'tcp', host: '127.0.0.1', port },
      timeoutMs,
      retries: 1,
      registers: [{ sensor, metric: 'level', unit: 1, table: 'holding', address: 0, type: 'float32', intervalMs: 20 }],
    },
    { logger: silent },
  );
  sources.push(source);
  const got: Reading[] = [];
  void (async () => {
    for await (const reading of source) got.push(reading);
  })();
  return { source, got };
}

const failures = (s: ModbusSource) => {
  const { exceptions, timeouts, transportErrors, invalidValues } = s.stats();
  return exceptions + timeouts + transportErrors + invalidValues;
};

beforeAll(async () => {
  pymodbus = await startModbusServer({ kind: 'tcp' });
  await pymodbus.set(1, 'hr', 0, [0x41ac, 0x0000]); // 21.5
});

afterAll(async () => {
  for (const s of sources) await s.stop();
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
  await pymodbus?.stop();
});

describe('hostile Modbus devices', () => {
  it('garbage, a maximal declared length, a wrong-sized answer, a hang-up: counted per sensor, no reading, memory flat; a good bus beside reads on', async () => {
    // 0xFF everywhere: every MBAP header declares 65,535 bytes, and no transaction id ever matches.
    const garbage = await hostile((socket) => socket.write(Buffer.alloc(256 * 1024, 0xff)));
    // A header declaring the maximal length, then one byte per request: a frame that never completes.
    const trickle = await hostile((socket, request) => {
      socket.write(Buffer.concat([request.subarray(0, 4), Buffer.from([0xff, 0xff, 0x01, 0x03])]));
    });
    // Well formed, right transaction and unit, but one register where two were asked for.
    const short = await hostile((socket, request) => {
      socket.write(Buffer.concat([request.subarray(0, 4), Buffer.from([0x00, 0x05, request[6]!, 0x03, 0x02, 0x12, 0x34])]));
    });
    const hangUp = await hostile((socket) => socket.destroy());

    const good = poll(pymodbus.port, 'good', 2000);
    const bad = [poll(garbage.port, 'garbage'), poll(trickle.port, 'trickle'), poll(short.port, 'short'), poll(hangUp.port, 'hang-up')];
    const heapBefore = process.memoryUsage().heapUsed;

    await vi.waitFor(() => expect(bad.map((b) => failures(b.source) >= 5)).toEqual([true, true, true, true]), { timeout: 30_000 });
    await vi.waitFor(() => expect(garbage.bytesSent()).toBeGreaterThan(4 * 1024 * 1024), { timeout: 30_000 });
    for (const b of bad) {
      expect(b.got).toEqual([]);
      expect(b.source.stats().queued).toBe(0);
      expect(b.source.health()[0]?.state).toMatch(/^(timeout|transport)$/);
    }
    // 4 MiB and more of garbage went in; the heap did not follow it.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    expect(good.got.length).toBeGreaterThan(10);
    expect(good.got.every((r) => r.value === 21.5)).toBe(true);
    expect(failures(good.source)).toBe(0);
  });
});
