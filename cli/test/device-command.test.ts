import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { topics } from '@cityops/protocol';
import { deviceCommand } from '../src/commands/device.ts';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';

const run = promisify(execFile);

async function capture(fn: (out: PassThrough) => Promise<void>): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await fn(out);
  return text;
}

async function publish(port: number, id: string, secret: string, value: number): Promise<number> {
  const body = JSON.stringify({ boot: 1, seq: value, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value }] });
  try {
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-i', id, '-u', id, '-P', secret, '-t', topics.telemetry(id), '-m', body], { timeout: 15_000 });
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? 1;
  }
}

describe('cityops device', () => {
  const dir = mkdtemp(join(tmpdir(), 'cityops-device-'));
  let ingest: CityopsProcess | undefined;
  afterAll(async () => {
    await ingest?.stop();
    await rm(await dir, { recursive: true, force: true });
  });

  it('provisions into the embedded store, prints the secret once, and the device can then publish', async () => {
    const data = await dir;
    const text = await capture((out) => deviceCommand(['add', 'gw-cli', '--kind', 'gateway', '--at', 'minhang/xinzhuang/g010', '--data', data], out));
    const secret = /secret:\s+(\S+)/.exec(text)?.[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(text).toMatch(/shown once/);
    await expect(deviceCommand(['add', 'gw-cli', '--kind', 'gateway', '--at', 'minhang/xinzhuang/g010', '--data', data], new PassThrough())).rejects.toMatchObject({
      code: 'INGEST_ERR_DEVICE_EXISTS',
    });
    await expect(deviceCommand(['add', 'gw-x', '--kind', 'gateway', '--at', 'Not A Place', '--data', data], new PassThrough())).rejects.toMatchObject({
      code: 'PROTOCOL_ERR_PLACE_INVALID',
    });
    // A console is bound to departments (the alert topics it may read), and needs them.
    await expect(deviceCommand(['add', 'console-x', '--kind', 'console', '--data', data], new PassThrough())).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    const console_ = JSON.parse(
      await capture((out) => deviceCommand(['add', 'console-pudong', '--kind', 'console', '--departments', 'pudong-ecology, pudong-water', '--data', data, '--json'], out)),
    ) as { kind: string; departments: string[] };
    expect(console_).toMatchObject({ kind: 'console', departments: ['pudong-ecology', 'pudong-water'] });

    ingest = await startCityops(['ingest', '--data', data, '--mqtt-port', '0', '--http-port', '0', '--admin-token', 'device-test-token-0123456789']);
    const port = Number(ingest.ready.mqttPort);
    const api = String(ingest.ready.httpUrl);
    expect(await publish(port, 'gw-cli', secret!, 1)).toBe(0);

    // Through the running service's API: a second device, as JSON; then revoke the first.
    const json = JSON.parse(
      await capture((out) => deviceCommand(['add', 'gw-api', '--kind', 'gateway', '--at', 'minhang/xinzhuang/g011', '--api', api, '--token', 'device-test-token-0123456789', '--json'], out)),
    ) as { username: string; secret: string };
    expect(json.username).toBe('gw-api');
    expect(await publish(port, 'gw-api', json.secret, 2)).toBe(0);
    // Its sensor was learned on first sight; decommissioned through the API, it stays listed as such.
    const token = ['--api', api, '--token', 'device-test-token-0123456789', '--json'];
    const listed = JSON.parse(await capture((out) => deviceCommand(['sensors', 'gw-api', ...token], out))) as { active: number; sensors: { sensor: string; origin: string }[] };
    expect(listed).toMatchObject({ active: 1, sensors: [{ sensor: 's', origin: 'learned' }] });
    await capture((out) => deviceCommand(['decommission', 'gw-api', 's', ...token], out));
    const after = JSON.parse(await capture((out) => deviceCommand(['sensors', 'gw-api', ...token], out))) as { active: number; decommissioned: number };
    expect(after).toMatchObject({ active: 0, decommissioned: 1 });
    await capture((out) => deviceCommand(['revoke', 'gw-cli', '--api', api, '--token', 'device-test-token-0123456789'], out));
    expect(await publish(port, 'gw-cli', secret!, 3)).not.toBe(0);
    await expect(deviceCommand(['revoke', 'gw-cli', '--api', api, '--token', 'wrong'], new PassThrough())).rejects.toMatchObject({ code: 'CLI_ERR_API' });
  });
});
