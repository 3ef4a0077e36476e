import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeFrame, renderQrVariant } from '../../test-peers/qr-frames.ts';
import { scanCommand } from '../src/commands/scan.ts';
import { createShutdown } from '../src/shutdown.ts';
import { collectJsonLines } from './printed-json.ts';

const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
const rogue = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });

describe('cityops scan --frames-command / --frames-dir (offline: no broker)', () => {
  let dir: string;
  let trust: string;
  let valid: string;
  let forged: string;

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'silent';
    dir = await mkdtemp(join(tmpdir(), 'cityops-scan-frames-'));
    trust = join(dir, 'trust.json');
    await writeFile(trust, JSON.stringify([health.trustEntry]));
    valid = join(dir, 'valid.jpg');
    forged = join(dir, 'forged.jpg');
    await writeFile(valid, await encodeFrame(renderQrVariant(health.issueHealthCode({ subject: 'p-000001', colour: 'green' }), 'noisy', 640, 480), 'jpeg'));
    await writeFile(forged, await encodeFrame(renderQrVariant(rogue.issueHealthCode({ subject: 'p-000002', colour: 'green' }), 'rotated', 640, 480), 'jpeg'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function scan(extra: string[], scanner: string, until: (printed: Record<string, unknown>[]) => void): Promise<Record<string, unknown>[]> {
    const out = new PassThrough();
    const printed = collectJsonLines(out);
    const shutdown = createShutdown();
    const argv = ['--scanner', scanner, '--trust', trust, '--broker', 'mqtt://127.0.0.1:1', '--connect-wait-ms', '0', '--upload-wait-ms', '0', '--data', join(dir, scanner), ...extra];
    const running = scanCommand(argv, out, shutdown, Readable.from([]));
    await vi.waitFor(() => until(printed), { timeout: 15_000 });
    await shutdown.run();
    await running;
    return printed;
  }

  it('verifies the codes in camera frames from a command, a held code once', async () => {
    const frames = [...Array<string>(6).fill(valid), ...Array<string>(6).fill(forged)].map((f) => `"${f}"`).join(' ');
    const printed = await scan(['--frames-command', `cat ${frames}`], 'door-cam-1', (p) => expect(p.length).toBeGreaterThanOrEqual(2));
    expect(printed.slice(0, 2)).toEqual([
      expect.objectContaining({ verdict: 'allow', reason: 'OK', kind: 'health-code', offline: true }),
      expect.objectContaining({ verdict: 'deny', reason: 'UNKNOWN_KEY', offline: true }),
    ]);
  });

  it('verifies new images of a folder; refuses conflicting options', async () => {
    const inbox = await mkdtemp(join(dir, 'inbox-'));
    await copyFile(valid, join(inbox, 'one.jpg'));
    const printed = await scan(['--frames-dir', inbox, '--presentation-gap-ms', '0'], 'door-cam-2', (p) => expect(p).toHaveLength(1));
    expect(printed).toEqual([expect.objectContaining({ verdict: 'allow', reason: 'OK', offline: true })]);
    await expect(scanCommand(['--scanner', 'x', '--trust', trust, '--frames-dir', inbox, '--frames-command', 'cat'], new PassThrough(), createShutdown())).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(scanCommand(['--scanner', 'x', '--trust', trust, '--presentation-gap-ms', '5'], new PassThrough(), createShutdown())).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });
});
