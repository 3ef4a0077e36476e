import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceCommand } from '../src/commands/device.ts';

/** `cityops device` on the store itself (issue 17): sensors declared at provisioning, listed, decommissioned. */
async function capture(argv: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await deviceCommand(argv, out);
  return text;
}

describe('cityops device sensors', () => {
  let data: string;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'cityops-device-sensors-'));
  });
  afterAll(async () => {
    await rm(data, { recursive: true, force: true });
  });

  it('declares sensors with a cap at provisioning, lists them, decommissions one', async () => {
    const at = ['--at', 'minhang/xinzhuang/g010', '--data', data];
    await capture(['add', 'gw-s', '--kind', 'gateway', ...at, '--sensors', 'lvl-1:water_level, lvl-2:water_level', '--max-sensors', '3']);
    const listed = JSON.parse(await capture(['sensors', 'gw-s', '--data', data, '--json'])) as Record<string, unknown>;
    expect(listed).toMatchObject({ device: 'gw-s', cap: 3, active: 2, decommissioned: 0, metrics: 1, sensors: [{ sensor: 'lvl-1', origin: 'declared' }, { sensor: 'lvl-2' }] });
    expect(await capture(['decommission', 'gw-s', 'lvl-2', '--data', data])).toMatch(/lvl-2 of gw-s decommissioned/);
    const text = await capture(['sensors', 'gw-s', '--data', data]);
    expect(text).toMatch(/2 of 3 sensors \(1 active, 1 decommissioned\)/);
    expect(text).toMatch(/lvl-2\s+water_level\s+declared\s+decommissioned/);
    await expect(capture(['decommission', 'gw-s', 'lvl-9', '--data', data])).rejects.toMatchObject({ code: 'INGEST_ERR_UNKNOWN_SENSOR' });
  });

  it('refuses bad sensor lists, caps and a declaration beyond the cap before the device exists', async () => {
    const at = ['--kind', 'gateway', '--at', 'minhang/xinzhuang/g010', '--data', data];
    const bad = capture(['add', 'gw-bad', ...at, '--sensors', 'ok:pm25,no-metric,x:Bad,a:b:c']);
    await expect(bad).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(bad).rejects.toThrow(/no-metric, x:Bad, a:b:c/);
    await expect(capture(['add', 'gw-bad', ...at, '--max-sensors=-1'])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(capture(['add', 'gw-bad', ...at, '--sensors', 'a:pm25,b:pm25', '--max-sensors', '1'])).rejects.toMatchObject({ code: 'INGEST_ERR_SENSOR_LIMIT' });
    await expect(capture(['sensors', 'gw-bad', '--data', data])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(capture(['decommission', 'gw-s', '--data', data])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });
});
