import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';
import { startModbusServer, type ModbusServer } from '../../test-peers/modbus-server.ts';
import { gatewayCommand } from '../src/commands/gateway.ts';
import { createShutdown } from '../src/shutdown.ts';

const TOKEN = 'gateway-modbus-token-0123456789';

function printedLines(out: PassThrough): Record<string, unknown>[] {
  const printed: Record<string, unknown>[] = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.startsWith('{')) printed.push(JSON.parse(line) as Record<string, unknown>);
  });
  return printed;
}

describe('cityops gateway --modbus and --check', () => {
  let dir: string;
  let modbus: ModbusServer;
  // A "broker" that only counts connections: --check must never make one.
  let fakeBroker: Server;
  let brokerConnections = 0;
  let ingest: CityopsProcess | undefined;

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'silent';
    dir = await mkdtemp(join(tmpdir(), 'cityops-gateway-modbus-'));
    modbus = await startModbusServer({ kind: 'tcp' });
    await modbus.set(1, 'ir', 0, [356, 120]);
    await modbus.set(3, 'hr', 102, [250]);
    fakeBroker = createServer((socket) => {
      brokerConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => fakeBroker.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await ingest?.stop();
    await modbus?.stop();
    await new Promise((resolve) => fakeBroker?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const writeMap = async (name: string, map: unknown) => {
    const file = join(dir, name);
    await writeFile(file, JSON.stringify(map));
    return file;
  };
  const fakeBrokerUrl = () => `mqtt://127.0.0.1:${(fakeBroker.address() as { port: number }).port}`;

  it('--check reads every register once, reports each, exits non-zero on a bus fault, and publishes nothing', async () => {
    const file = await writeMap('station.json', {
      connection: { kind: 'tcp', host: '127.0.0.1', port: modbus.port },
      timeoutMs: 2000,
      retries: 0,
      registers: [
        { sensor: 'pm25-1', metric: 'pm25', unit: 1, table: 'input', address: 0, type: 'uint16', scale: 0.1 },
        { sensor: 'pm10-1', metric: 'pm10', unit: 1, table: 'input', address: 1, type: 'uint16', scale: 0.1 },
        { sensor: 'wl-1', metric: 'water_level', unit: 3, table: 'holding', address: 102, type: 'uint16', scale: 0.01 },
        { sensor: 'ghost', metric: 'water_level', unit: 3, table: 'holding', address: 900 },
      ],
    });
    const out = new PassThrough();
    const printed = printedLines(out);
    const run = gatewayCommand(['--check', '--modbus', file, '--device', 'gw-check', '--secret', 's', '--broker', fakeBrokerUrl(), '--journal', join(dir, 'j1')], out, createShutdown());
    await expect(run).rejects.toMatchObject({ code: 'CLI_ERR_CHECK_FAILED' });
    expect(printed).toEqual([
      { check: 'config', ok: true },
      { check: 'map', ok: true, file, registers: 4 },
      { check: 'register', sensor: 'pm25-1', metric: 'pm25', unit: 1, table: 'input', address: 0, ok: true, value: 35.6, alarm: false },
      { check: 'register', sensor: 'pm10-1', metric: 'pm10', unit: 1, table: 'input', address: 1, ok: true, value: 12, alarm: false },
      { check: 'register', sensor: 'wl-1', metric: 'water_level', unit: 3, table: 'holding', address: 102, ok: true, value: 2.5, alarm: false },
      expect.objectContaining({ check: 'register', sensor: 'ghost', ok: false, code: 'AGENT_ERR_MODBUS_EXCEPTION', modbusCode: 2 }),
      { check: 'done', ok: false, problems: 1 },
    ]);
    expect(brokerConnections).toBe(0);
  });

  it('--check passes a good map and lists every problem of a bad config and a bad map together', async () => {
    const good = await writeMap('good.json', {
      connection: { kind: 'tcp', host: '127.0.0.1', port: modbus.port },
      registers: [{ sensor: 'pm25-1', metric: 'pm25', unit: 1, table: 'input', address: 0, type: 'uint16', scale: 0.1 }],
    });
    const out = new PassThrough();
    const printed = printedLines(out);
    await gatewayCommand(['--check', '--modbus', good, '--device', 'gw-check', '--secret', 's', '--broker', fakeBrokerUrl()], out, createShutdown());
    expect(printed.at(-1)).toEqual({ check: 'done', ok: true, problems: 0 });

    const bad = await writeMap('bad.json', { connection: { kind: 'rtu', path: '' }, registers: [{ sensor: 'x', metric: 'pm25', unit: 1, table: 'coil', address: -1 }] });
    const badOut = new PassThrough();
    const badPrinted = printedLines(badOut);
    await expect(
      gatewayCommand(['--check', '--modbus', bad, '--device', 'not a device id', '--secret', 's', '--broker', fakeBrokerUrl()], badOut, createShutdown()),
    ).rejects.toMatchObject({ code: 'CLI_ERR_CHECK_FAILED' });
    expect(badPrinted[0]).toMatchObject({ check: 'config', ok: false, code: 'AGENT_ERR_CONFIG', message: expect.stringContaining('/deviceId') as unknown });
    expect(badPrinted[1]).toMatchObject({ check: 'map', ok: false, code: 'AGENT_ERR_MODBUS_MAP' });
    expect((badPrinted[1]!.problems as string[]).join('\n')).toMatch(/\/connection\/path[\s\S]*\/registers\/0\/address/);
    expect(badPrinted.at(-1)).toMatchObject({ check: 'done', ok: false });
    expect(brokerConnections).toBe(0);

    // Not JSON, and a file far larger than any map: refused with the file named, before parsing.
    const notJson = join(dir, 'not-json.json');
    await writeFile(notJson, '{"connection": ');
    const huge = join(dir, 'huge.json');
    await writeFile(huge, Buffer.alloc(9 * 1024 * 1024, 0x20));
    for (const [file, reason] of [[notJson, 'not JSON'], [huge, 'larger than 8388608 bytes']] as const) {
      const o = new PassThrough();
      const lines = printedLines(o);
      await expect(gatewayCommand(['--check', '--modbus', file, '--device', 'gw-check', '--secret', 's', '--broker', fakeBrokerUrl()], o, createShutdown())).rejects.toMatchObject({
        code: 'CLI_ERR_CHECK_FAILED',
      });
      expect((lines[1]!.problems as string[])[0]).toContain(reason);
    }
    // The same file given to a running gateway: AGENT_ERR_MODBUS_MAP before anything starts.
    await expect(gatewayCommand(['--modbus', notJson, '--device', 'gw-check', '--secret', 's', '--broker', fakeBrokerUrl()], new PassThrough(), createShutdown())).rejects.toMatchObject({
      code: 'AGENT_ERR_MODBUS_MAP',
    });
  });

  it('--modbus polls the map into the warehouse with the device\'s place and stops on shutdown', async () => {
    ingest = await startCityops(['ingest', '--data', join(dir, 'data'), '--mqtt-port', '0', '--http-port', '0', '--admin-token', TOKEN]);
    const api = String(ingest.ready.httpUrl);
    const created = await fetch(`${api}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'gw-modbus-cli', kind: 'gateway', place: 'pudong/lujiazui/g007' }),
    });
    const { secret } = (await created.json()) as { secret: string };
    const file = await writeMap('run.json', {
      connection: { kind: 'tcp', host: '127.0.0.1', port: modbus.port },
      registers: [{ sensor: 'wl-1', metric: 'water_level', unit: 3, table: 'holding', address: 102, type: 'uint16', scale: 0.01, intervalMs: 100 }],
    });
    const out = new PassThrough();
    const printed = printedLines(out);
    const shutdown = createShutdown();
    const running = gatewayCommand(['--modbus', file, '--device', 'gw-modbus-cli', `--secret=${secret}`, '--broker', String(ingest.ready.mqttUrl), '--journal', join(dir, 'j2')], out, shutdown);
    type Row = { sensor: string; value: number; district: string; grid: string };
    const rows = async () => ((await (await fetch(`${api}/v1/readings?device=gw-modbus-cli&limit=10000`)).json()) as { readings: Row[] }).readings;
    await vi.waitFor(async () => expect((await rows()).length).toBeGreaterThanOrEqual(3), { timeout: 30_000, interval: 200 });
    expect(printed[0]).toMatchObject({ ready: true, device: 'gw-modbus-cli' });
    expect((await rows())[0]).toMatchObject({ sensor: 'wl-1', value: 2.5, district: 'pudong', grid: 'g007' });
    await shutdown.run();
    await running;
  });
});
