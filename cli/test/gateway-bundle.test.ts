import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createTelemetryCodec, topics } from '@cityops/protocol';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildGatewayBundle, GATEWAY_NODE_FLAGS, type AgentBundle } from '../src/gateway-bundle.ts';
import { startMosquitto } from '../../test-peers/mosquitto.ts';

// The single-file gateway (npm run build:gateway), built afresh into a temp dir and run by plain
// node as a gateway would run it: no tsx, no workspace on the import path.
describe('the bundled gateway (cityops-gateway.mjs)', () => {
  let dir: string;
  let bundle: AgentBundle;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-gateway-bundle-'));
    bundle = await buildGatewayBundle(join(dir, 'cityops-gateway.mjs'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('holds the gateway agent only: no scanner, verifier or QR code modules', async () => {
    const text = await readFile(bundle.outfile, 'utf8');
    expect(text).toContain('cityops/v1');
    for (const absent of ['fastify', 'piscina', 'cbor-x', 'createScannerAgent', 'verifyCode']) expect(text).not.toContain(absent);
    expect(bundle.bytes).toBeLessThan(1.5 * 2 ** 20);
  });

  it('forwards JSON lines from stdin through mosquitto and exits once all is acknowledged', async () => {
    const broker = await startMosquitto();
    const subscriber = await connectAsync(broker.url, { clientId: 'bundle-test-subscriber', protocolVersion: 4 });
    try {
      const codec = createTelemetryCodec();
      const received: number[] = [];
      subscriber.on('message', (_topic, payload) => received.push(...codec.decode(payload).readings.map((r) => r.value)));
      await subscriber.subscribeAsync(topics.telemetry('gw-bundle'), { qos: 1 });

      const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, bundle.outfile, '--device', 'gw-bundle', '--secret', 'unused', '--broker', broker.url, '--journal', join(dir, 'journal')], {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, LOG_LEVEL: 'warn' },
      });
      let errText = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errText += chunk));
      const printed: Record<string, unknown>[] = [];
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.startsWith('{')) printed.push(JSON.parse(line) as Record<string, unknown>);
      });
      const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify({ sensor: 'wl-1', metric: 'water_level', value: i, ts: Date.now() - 1000 + i }));
      child.stdin.end(`${lines.join('\n')}\nnot json\n`);
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code, errText).toBe(0);
      expect(printed[0]).toMatchObject({ ready: true, device: 'gw-bundle' });
      expect(printed.at(-1)).toMatchObject({ done: true, readings: 250, badLines: 1, batchesAcked: 3 });
      // Acknowledged by mosquitto; on its way to the subscriber, maybe still.
      await vi.waitFor(() => expect([...received].sort((a, b) => a - b)).toEqual(Array.from({ length: 250 }, (_, i) => i)), { timeout: 5000, interval: 50 });
    } finally {
      await subscriber.endAsync();
      await broker.stop();
    }
  });
});
