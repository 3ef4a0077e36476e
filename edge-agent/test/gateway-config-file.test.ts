import { closeSync, fstatSync, openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayAgent, gatewayLogSink, journaldSink, journalPriority, loadGatewayConfigFile, stderrIsJournal } from '../src/index.ts';

/** The error a load rejects with (the test fails when it resolves). */
async function refusal(load: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await load;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('the configuration was accepted');
}

describe('the gateway configuration file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-gateway-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function configFile(name: string, body: unknown): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, typeof body === 'string' ? body : JSON.stringify(body));
    return file;
  }

  it('reads the secret as a systemd credential, the CA beside it, and puts the journal in $STATE_DIRECTORY', async () => {
    const credentials = join(dir, 'credentials');
    await mkdir(credentials, { recursive: true });
    await writeFile(join(credentials, 'gateway-secret'), 's3cret-0123456789\n', { mode: 0o600 });
    await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const file = await configFile('gateway.json', {
      deviceId: 'gw-pole-17',
      mqtt: { url: 'mqtts://broker.city:8883', keepaliveSec: 60 },
      files: { secret: '%d/gateway-secret', ca: 'ca.pem' },
      batch: { maxReadings: 500 },
      source: { kind: 'simulated', simulated: { sensors: [{ id: 'pm25-1', metric: 'pm25' }], intervalMs: 1000 } },
      logLevel: 'warn',
    });
    const settings = await loadGatewayConfigFile(file, { CREDENTIALS_DIRECTORY: credentials, STATE_DIRECTORY: '/var/lib/cityops-gateway:/var/lib/other' });
    expect(settings.agent).toMatchObject({
      deviceId: 'gw-pole-17',
      journalDir: '/var/lib/cityops-gateway/journal',
      mqtt: { url: 'mqtts://broker.city:8883', password: 's3cret-0123456789', keepaliveSec: 60 },
      batch: { maxReadings: 500 },
    });
    expect(settings.agent.mqtt.tls?.ca).toContain('BEGIN CERTIFICATE');
    expect(settings.source).toMatchObject({ kind: 'simulated', config: { intervalMs: 1000 } });
    expect(settings.logLevel).toBe('warn');
    expect(Object.isFrozen(settings.agent.mqtt)).toBe(true);
    // What the agent then takes as any configuration.
    expect(createGatewayAgent(settings.agent).config.journal.maxBytes).toBe(64 * 1024 * 1024);
  });

  it('reports every problem of a file with every field wrong at once, with paths', async () => {
    const file = await configFile('wrong.json', {
      deviceId: 'gw/with+wildcards',
      mqtt: { url: 'http://not-mqtt', keepaliveSec: 1 },
      batch: { maxReadings: 0 },
      files: { secret: 42 },
      source: { kind: 'modbus-over-carrier-pigeon' },
      logLevel: 'loud',
      extra: true,
    });
    const err = await refusal(loadGatewayConfigFile(file, {}));
    expect(err.code).toBe('AGENT_ERR_CONFIG_FILE');
    for (const path of ['/deviceId', '/mqtt/url', '/mqtt/keepaliveSec', '/batch/maxReadings', '/files/secret', '/source/kind', '/logLevel', 'extra']) {
      expect(err.message).toContain(path);
    }
    expect(err.message).toContain(file);
  });

  it('refuses a secret others can read, a missing credential directory, no journal place, and both secrets', async () => {
    await writeFile(join(dir, 'open-secret'), 'x', { mode: 0o644 });
    await chmod(join(dir, 'open-secret'), 0o644);
    const open = await configFile('open.json', { deviceId: 'gw-1', mqtt: { url: 'mqtt://b:1883', password: 'inline' }, files: { secret: 'open-secret' } });
    const err = await refusal(loadGatewayConfigFile(open, {}));
    expect(err.message).toMatch(/open-secret is readable by group or others \(mode 644\); chmod 600/);
    expect(err.message).toMatch(/journalDir is required unless systemd sets \$STATE_DIRECTORY/);
    const credential = await configFile('credential.json', { deviceId: 'gw-1', journalDir: '/tmp/j', mqtt: { url: 'mqtt://b:1883' }, files: { secret: '%d/gateway-secret' } });
    await expect(loadGatewayConfigFile(credential, {})).rejects.toThrow(/\$CREDENTIALS_DIRECTORY is not set/);
    await writeFile(join(dir, 'closed-secret'), 'x', { mode: 0o600 });
    const both = await configFile('both.json', { deviceId: 'gw-1', journalDir: '/tmp/j', mqtt: { url: 'mqtt://b:1883', password: 'inline' }, files: { secret: 'closed-secret' } });
    await expect(loadGatewayConfigFile(both, {})).rejects.toThrow(/give the secret once, by file/);
  });

  it('refuses what is not a configuration: missing, not JSON, oversized, a directory', async () => {
    await expect(loadGatewayConfigFile(join(dir, 'absent.json'), {})).rejects.toThrow(/cannot be read \(ENOENT\)/);
    await expect(loadGatewayConfigFile(await configFile('garbage.json', '{"deviceId": '), {})).rejects.toThrow(/not JSON/);
    await expect(loadGatewayConfigFile(await configFile('huge.json', ' '.repeat(1024 * 1024 + 1)), {})).rejects.toThrow(/at most 1048576 bytes/);
    await expect(loadGatewayConfigFile(dir, {})).rejects.toThrow(/not a regular file/);
  });
});

describe('journald-friendly logs', () => {
  it('maps pino levels to sd-daemon priorities <3>..<7> and keeps one line per event', () => {
    expect([60, 50, 40, 30, 20, 10].map(journalPriority)).toEqual([3, 3, 4, 6, 7, 7]);
    const lines: string[] = [];
    const sink = journaldSink({ write: (line: string) => lines.push(line) });
    sink.write('{"level":50,"msg":"journal full"}\n');
    sink.write('{"level":30,"msg":"connected"}\n');
    sink.write('{"level":20,"msg":"batch"}\n');
    expect(lines).toEqual(['<3>{"level":50,"msg":"journal full"}\n', '<6>{"level":30,"msg":"connected"}\n', '<7>{"level":20,"msg":"batch"}\n']);
  });

  it('prefixes only when stderr is the stream JOURNAL_STREAM names (device:inode)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cityops-journal-stream-'));
    const fd = openSync(join(dir, 'stream'), 'w');
    try {
      const { dev, ino } = fstatSync(fd, { bigint: true });
      expect(stderrIsJournal({ JOURNAL_STREAM: `${dev}:${ino}` }, fd)).toBe(true);
      expect(stderrIsJournal({ JOURNAL_STREAM: `${dev}:${ino + 1n}` }, fd)).toBe(false);
      expect(stderrIsJournal({ JOURNAL_STREAM: 'garbage' }, fd)).toBe(false);
      expect(stderrIsJournal({}, fd)).toBe(false);
      const lines: string[] = [];
      const out = { write: (line: string) => lines.push(line) };
      // Our own stderr is not that file: no prefix.
      gatewayLogSink({ JOURNAL_STREAM: `${dev}:${ino}` }, out).write('{"level":40}\n');
      expect(lines).toEqual(['{"level":40}\n']);
    } finally {
      closeSync(fd);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
