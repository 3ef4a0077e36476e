import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { gatewayCommand } from '../src/commands/gateway.ts';
import { createShutdown } from '../src/shutdown.ts';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';

const TOKEN = 'gateway-test-token-0123456789';

describe('cityops gateway', () => {
  let dir: string;
  let ingest: CityopsProcess | undefined;
  afterAll(async () => {
    await ingest?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('forwards JSON lines from stdin, skips a bad line, and exits once all is acknowledged', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-gateway-'));
    ingest = await startCityops(['ingest', '--data', join(dir, 'data'), '--mqtt-port', '0', '--http-port', '0', '--admin-token', TOKEN]);
    const api = String(ingest.ready.httpUrl);
    const created = await fetch(`${api}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'gw-stdin', kind: 'gateway', place: 'jiading/anting/g020' }),
    });
    const { secret } = (await created.json()) as { secret: string };

    process.env.LOG_LEVEL = 'silent';
    const stdin = new PassThrough();
    const out = new PassThrough();
    const printed: Record<string, unknown>[] = [];
    out.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.startsWith('{')) printed.push(JSON.parse(line) as Record<string, unknown>);
    });
    const now = Date.now();
    stdin.end(
      [
        JSON.stringify({ sensor: 'wl-1', metric: 'water_level', value: 2.5, ts: now - 2000 }),
        'this is not json',
        JSON.stringify({ sensor: 'wl-1', metric: 'water_level', value: 2.6, ts: now - 1000 }),
        JSON.stringify({ sensor: 'cover-1', metric: 'manhole_tilt', value: 14, alarm: true }),
      ].join('\n') + '\n',
    );
    await gatewayCommand(
      ['--device', 'gw-stdin', `--secret=${secret}`, '--broker', String(ingest.ready.mqttUrl), '--journal', join(dir, 'journal')],
      out,
      createShutdown(),
      stdin,
    );
    expect(printed[0]).toMatchObject({ ready: true, device: 'gw-stdin' });
    expect(printed.at(-1)).toMatchObject({ done: true, readings: 3, badLines: 1 });
    await vi.waitFor(
      async () => {
        const body = (await (await fetch(`${api}/v1/readings?device=gw-stdin`)).json()) as { readings: { value: number; alarm: boolean }[] };
        expect(body.readings.map((r) => r.value).sort()).toEqual([14, 2.5, 2.6]);
        expect(body.readings.find((r) => r.value === 14)?.alarm).toBe(true);
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});
