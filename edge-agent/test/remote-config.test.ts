import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { topics, type DeviceConfigReport } from '@cityops/protocol';
import { createGatewayAgent, createRemoteConfig, createSimulatedSource, createSourceSlot, type SourceSpec } from '../src/index.ts';
import { createAgentFixture, DEVICE } from './agent-fixture.ts';
import { startAedesBroker, type TestBroker } from './aedes-broker.ts';

/**
 * The gateway's side of remote configuration against hostile or stale versions. The test broker has
 * no ACL, so the test publishes on the config topic what ingest never would (ingest's ACL and the
 * end-to-end path are tested in ingest/ and cli/).
 */
const SETTLED = { timeout: 15_000, interval: 20 };
const fixture = createAgentFixture();
let broker: TestBroker | undefined;
afterEach(async () => {
  await fixture.cleanup();
  await broker?.stop();
  broker = undefined;
});

async function setUp(storedFile?: string) {
  broker = await startAedesBroker(DEVICE);
  const journalDir = await fixture.journalDir();
  if (storedFile !== undefined) await writeFile(join(journalDir, 'remote-config.json'), storedFile);
  const logger = pino({ level: 'silent' });
  // Subscribed to its config topic, as `cityops gateway` composes it.
  const listening = createGatewayAgent(
    {
      deviceId: DEVICE,
      journalDir,
      mqtt: { url: broker.url, reconnectMinMs: 10, reconnectMaxMs: 100, stopTimeoutMs: 300 },
      batch: { maxReadings: 10, maxDelayMs: 100 },
      journal: { segmentBytes: 4096, maxBytes: 1024 * 1024, fsync: 'off' },
    },
    { logger, subscriptions: [topics.config(DEVICE)] },
  );
  const slot = createSourceSlot({ consume: (source) => listening.consume(source), logger });
  const built: SourceSpec[] = [];
  const remote = createRemoteConfig(
    { deviceId: DEVICE, file: join(journalDir, 'remote-config.json') },
    {
      agent: listening,
      slot,
      logger,
      buildSource: (spec) => {
        built.push(spec);
        return createSimulatedSource({ sensors: [{ id: 'pm-1', metric: 'pm25' }], intervalMs: spec.pollIntervalMs ?? 1000 });
      },
    },
  );
  const outcomes: DeviceConfigReport[] = [];
  remote.on('outcome', (o) => outcomes.push(o));
  const reported: DeviceConfigReport[] = [];
  remote.on('reported', (o) => reported.push(o));
  await listening.start();
  await remote.start();
  await vi.waitFor(() => expect(listening.stats().connected).toBe(true), SETTLED);
  const stop = async () => {
    await remote.stop();
    await slot.stop();
    await listening.stop();
  };
  return { journalDir, agent: listening, slot, remote, outcomes, reported, built, stop };
}

/** Every version is published retained, as ingest does: one published before the agent subscribed still reaches it. */
const version = (v: number, config: object = {}) => JSON.stringify({ version: v, issuedAt: 1_764_000_000_000, config });

describe('remote configuration at the gateway', () => {
  it('rejects garbage, oversized, deep and mistyped versions with every reason, and keeps running', async () => {
    const gw = await setUp();
    const before = gw.agent.settings();
    const sourceBefore = gw.slot.current();

    await broker!.publish(topics.config(DEVICE), 'not json at all', true);
    await vi.waitFor(() => expect(gw.outcomes).toHaveLength(1), SETTLED);
    expect(gw.outcomes[0]).toMatchObject({ version: 0, state: 'rejected' });
    expect(gw.outcomes[0]!.reason).toContain('/ is not JSON');

    await broker!.publish(topics.config(DEVICE), version(4, { modbus: { blob: 'x'.repeat(300 * 1024) } }), true);
    await vi.waitFor(() => expect(gw.outcomes).toHaveLength(2), SETTLED);
    expect(gw.outcomes[1]).toMatchObject({ version: 4, state: 'rejected' });
    expect(gw.outcomes[1]!.reason).toMatch(/bytes, over the 263168 byte limit/);

    const deep = `${'{"a":'.repeat(40_000)}1${'}'.repeat(40_000)}`;
    await broker!.publish(topics.config(DEVICE), `{"version":5,"issuedAt":0,"config":{"modbus":${deep}}}`, true);
    await vi.waitFor(() => expect(gw.outcomes).toHaveLength(3), SETTLED);
    expect(gw.outcomes[2]).toMatchObject({ version: 5, state: 'rejected', reason: '/config/modbus: this gateway has no Modbus support' });

    await broker!.publish(
      topics.config(DEVICE),
      JSON.stringify({ version: 6, issuedAt: 'yesterday', config: { batch: { maxReadings: -1 }, logLevel: 'silent', pollIntervalMs: Number.MAX_SAFE_INTEGER, colour: 'red' } }),
      true,
    );
    await vi.waitFor(() => expect(gw.outcomes).toHaveLength(4), SETTLED);
    for (const part of ['/issuedAt', '/config/batch/maxReadings', '/config/logLevel', '/config/pollIntervalMs', 'colour']) {
      expect(gw.outcomes[3]!.reason).toContain(part);
    }
    expect(gw.outcomes[3]!.version).toBe(6);

    // An empty message (a retained configuration cleared) is no version at all.
    await broker!.publish(topics.config(DEVICE), '', true);
    await vi.waitFor(() => expect(gw.remote.stats().ignored).toBe(1), SETTLED);

    expect(gw.agent.settings()).toEqual(before);
    expect(gw.slot.current()).toBe(sourceBefore);
    expect(gw.remote.stats()).toEqual({ version: 0, applied: 0, rejected: 4, ignored: 1 });
    await expect(readFile(join(gw.journalDir, 'remote-config.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    // Every outcome reached the broker.
    await vi.waitFor(() => expect(gw.reported.map((r) => r.version)).toEqual([0, 4, 5, 6]), SETTLED);
    await gw.stop();
  });

  it('applies a newer version once and ignores the same or an older one', async () => {
    const gw = await setUp();
    await broker!.publish(topics.config(DEVICE), version(7, { pollIntervalMs: 500, batch: { maxReadings: 4 } }), true);
    await vi.waitFor(() => expect(gw.outcomes).toEqual([expect.objectContaining({ version: 7, state: 'applied' })]), SETTLED);
    expect(gw.agent.settings().batch.maxReadings).toBe(4);
    expect(gw.built).toEqual([{}, { pollIntervalMs: 500 }]);
    await broker!.publish(topics.config(DEVICE), version(7, { pollIntervalMs: 900 }), true);
    await broker!.publish(topics.config(DEVICE), version(3, { batch: { maxReadings: 9 } }), true);
    await vi.waitFor(() => expect(gw.remote.stats()).toEqual({ version: 7, applied: 1, rejected: 0, ignored: 2 }), SETTLED);
    expect(gw.agent.settings().batch.maxReadings).toBe(4);
    expect(gw.built).toHaveLength(2);
    // A version that goes back to the local settings and source: what it leaves out is the local setting.
    await broker!.publish(topics.config(DEVICE), version(8, {}), true);
    await vi.waitFor(() => expect(gw.remote.version()).toBe(8), SETTLED);
    expect(gw.agent.settings().batch.maxReadings).toBe(10);
    expect(gw.built).toEqual([{}, { pollIntervalMs: 500 }, {}]);
    expect(JSON.parse(await readFile(join(gw.journalDir, 'remote-config.json'), 'utf8'))).toMatchObject({ version: 8, config: {} });
    await gw.stop();
  });

  it('starts with the local configuration when the stored one is unreadable or no longer applies', async () => {
    for (const file of ['{"version": 3, "issuedAt": 0, "config": {"batch": {"maxReadings": "lots"}}}', '\u0000garbage', version(3, { modbus: {} })]) {
      const gw = await setUp(file);
      expect(gw.remote.version()).toBe(0);
      expect(gw.agent.settings().batch.maxReadings).toBe(10);
      expect(gw.built).toEqual([{}]);
      expect(gw.slot.current()).toBeDefined();
      await gw.stop();
      await broker!.stop();
      broker = undefined;
    }
  });
});
