import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTelemetryCodec, topics } from '@cityops/protocol';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startMosquitto, type Mosquitto } from '../../test-peers/mosquitto.ts';

// Issue 18, section 3: the gateway as a field install runs it. The systemd unit is checked by
// systemd itself (`systemd-analyze verify`, and its exposure score); the gateway runs as the unit
// starts it: `--config FILE`, the secret as a credential, the journal in $STATE_DIRECTORY, stderr
// the journal (JOURNAL_STREAM), so each log line carries its priority.

const execFileAsync = promisify(execFile);
const UNIT = fileURLToPath(new URL('../../edge-agent/deploy/cityops-gateway.service', import.meta.url));
const GATEWAY_MAIN = fileURLToPath(new URL('../src/gateway-main.ts', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The gateway's main as a process, with stderr written to a file whose device:inode JOURNAL_STREAM names. */
async function runGateway(dir: string, args: readonly string[], env: NodeJS.ProcessEnv, stdinText: string): Promise<Run> {
  const stderrFile = join(dir, `stderr-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(stderrFile, 'w');
  const { dev, ino } = fstatSync(fd, { bigint: true });
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', GATEWAY_MAIN, ...args], {
      stdio: ['pipe', 'pipe', fd],
      env: { PATH: process.env.PATH, JOURNAL_STREAM: `${dev}:${ino}`, ...env },
    });
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stdin!.end(stdinText);
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr: await readFile(stderrFile, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

describe('the installable gateway', () => {
  let dir: string;
  let broker: Mosquitto;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-gateway-install-'));
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ships a systemd unit that systemd verifies, hardened (exposure at most 2.0 of 10)', { timeout: 60_000 }, async () => {
    const unit = await readFile(UNIT, 'utf8');
    for (const line of [
      'DynamicUser=yes',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'StateDirectory=cityops-gateway',
      'LoadCredential=gateway-secret:/etc/cityops/gateway.secret',
      'CapabilityBoundingSet=',
      '--config /etc/cityops/gateway.json',
    ]) {
      expect(unit).toContain(line);
    }
    // Copied under the name systemd knows it by; verify exits non-zero on any unknown or bad setting.
    const copy = join(dir, 'cityops-gateway.service');
    await writeFile(copy, unit);
    const verified = await execFileAsync('systemd-analyze', ['verify', copy]);
    expect(verified.stderr).toBe('');
    const { stdout } = await execFileAsync('systemd-analyze', ['security', '--offline=yes', copy]);
    const exposure = Number(/Overall exposure level for cityops-gateway\.service: ([\d.]+)/.exec(stdout)?.[1]);
    expect(exposure).toBeGreaterThan(0);
    expect(exposure).toBeLessThanOrEqual(2);
  });

  it('runs from --config with a credential and $STATE_DIRECTORY; its log lines carry journald priorities', { timeout: 90_000 }, async () => {
    const credentials = join(dir, 'credentials');
    const state = join(dir, 'state');
    await mkdir(credentials, { recursive: true });
    await writeFile(join(credentials, 'gateway-secret'), 'pole-17-secret\n', { mode: 0o600 });
    const config = join(dir, 'gateway.json');
    await writeFile(config, JSON.stringify({ deviceId: 'gw-pole-17', mqtt: { url: broker.url }, files: { secret: '%d/gateway-secret' }, batch: { maxDelayMs: 0 }, logLevel: 'info' }));

    const subscriber = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const codec = createTelemetryCodec();
    const values: number[] = [];
    subscriber.on('message', (_topic, payload) => values.push(...codec.decode(payload).readings.map((r) => r.value)));
    await subscriber.subscribeAsync(topics.telemetry('gw-pole-17'), { qos: 1 });
    try {
      const now = Date.now();
      const lines = [1.5, 2.5, 3.5].map((value, i) => JSON.stringify({ sensor: 'wl-1', metric: 'water_level', value, ts: now - 1000 * (3 - i) }));
      const run = await runGateway(dir, ['--config', config], { CREDENTIALS_DIRECTORY: credentials, STATE_DIRECTORY: state }, `${lines.join('\n')}\nnot json\n`);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('"ready":true,"device":"gw-pole-17"');
      expect(run.stdout).toMatch(/"done":true.*"readings":3.*"badLines":1/);
      await vi.waitFor(() => expect(values.sort()).toEqual([1.5, 2.5, 3.5]));
      // The journal went where systemd's StateDirectory= puts it.
      expect((await readFile(join(state, 'journal', 'boot'), 'utf8')).length).toBeGreaterThan(0);
      const logLines = run.stderr.split('\n').filter((l) => l !== '');
      expect(logLines.length).toBeGreaterThan(0);
      for (const line of logLines) expect(line).toMatch(/^<[3-7]>\{"level":\d+/);
      // The bad line is a warning (<4>), the connection an info (<6>); the secret is in no line.
      expect(logLines.some((l) => l.startsWith('<4>') && l.includes('AGENT_ERR_SOURCE_LINE'))).toBe(true);
      expect(logLines.some((l) => l.startsWith('<6>'))).toBe(true);
      expect(run.stderr).not.toContain('pole-17-secret');
    } finally {
      await subscriber.endAsync(true);
    }
  });

  it('refuses a bad configuration before it starts (exit 1, every problem named) and --config mixed with flags (exit 2)', { timeout: 60_000 }, async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ deviceId: 'gw/+', mqtt: { url: 'ftp://x' }, files: { secret: '%d/gateway-secret' } }));
    const run = await runGateway(dir, ['--config', bad], {}, '');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/AGENT_ERR_CONFIG_FILE: .*bad\.json: .*\/deviceId.*\/mqtt\/url/);
    const mixed = await runGateway(dir, ['--config', bad, '--device', 'gw-1'], {}, '');
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--config takes everything from the file; drop --device');
  });
});
