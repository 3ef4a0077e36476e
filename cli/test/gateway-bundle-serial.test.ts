import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGatewayBundle, GATEWAY_NODE_FLAGS, type AgentBundle } from '../src/gateway-bundle.ts';
import { startModbusServer, type ModbusServer } from '../../test-peers/modbus-server.ts';
import { startPtyPair, type PtyPair } from '../../test-peers/socat-pty.ts';

// The single-file gateway as installed (plain node, no node_modules beside it) opening a serial
// line: Modbus RTU over a socat pty pair, Debian's pymodbus as the slave. The serial port's native
// binding travels with the bundle (its prebuilds/); without it, --check reported
// "AGENT_ERR_MODBUS_TRANSPORT: __dirname is not defined" for every register.
describe('the bundled gateway on a serial line', () => {
  let dir: string;
  let bundle: AgentBundle;
  let pty: PtyPair;
  let server: ModbusServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-gateway-bundle-serial-'));
    bundle = await buildGatewayBundle(join(dir, 'opt', 'cityops-gateway.mjs'));
    pty = await startPtyPair(dir);
    server = await startModbusServer({ kind: 'rtu', path: pty.peer, baudRate: 19_200, parity: 'N', dataBits: 8, stopBits: 2 });
    await server.set(5, 'hr', 40, [1234]);
  });
  afterAll(async () => {
    await server?.stop();
    await pty?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('--check reads a Modbus RTU register through the bundle', async () => {
    const map = join(dir, 'rtu.json');
    await writeFile(
      map,
      JSON.stringify({
        connection: { kind: 'rtu', path: pty.device, baudRate: 19_200, parity: 'none', dataBits: 8, stopBits: 2 },
        timeoutMs: 2000,
        retries: 1,
        registers: [{ sensor: 'wl-1', metric: 'water_level', unit: 5, table: 'holding', address: 40, type: 'uint16', scale: 0.01 }],
      }),
    );
    // Run from another directory: nothing is found through the working directory or a node_modules.
    const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, bundle.outfile, '--device', 'gw-serial', '--secret', 'unused', '--journal', join(dir, 'journal'), '--modbus', map, '--check'], {
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const [code] = (await once(child, 'exit')) as [number | null];
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines, stderr).toContainEqual(expect.objectContaining({ check: 'register', sensor: 'wl-1', ok: true, value: 12.34 }));
    expect(code).toBe(0);
  });
});
