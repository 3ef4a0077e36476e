import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTelemetryCodec, topics } from '@cityops/protocol';
import { connect, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startMosquitto, type Mosquitto } from '../../test-peers/mosquitto.ts';
import { DEVICE, alarm, createAgentFixture, once, routine } from './agent-fixture.ts';

const fixture = createAgentFixture();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await fixture.cleanup();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A subscriber with a persistent session (CleanSession = 0, QoS 1): with mosquitto's persistence
 * on, its subscription and the messages queued for it survive a broker restart, so it misses
 * nothing whichever of it and the agent reconnects first.
 */
async function subscriber(url: string, onBatch: (batch: { boot: number; seq: number; readings: number }) => void): Promise<MqttClient> {
  const codec = createTelemetryCodec();
  const client = connect(url, { clientId: 'test-subscriber', clean: false, reconnectPeriod: 20, protocolVersion: 4 });
  client.on('message', (topic, payload) => {
    if (topic !== topics.telemetry(DEVICE)) return;
    const batch = codec.decode(payload);
    onBatch({ boot: batch.boot, seq: batch.seq, readings: batch.readings.length });
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => client.subscribe(topics.telemetry(DEVICE), { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  });
  cleanups.push(() => client.endAsync(true));
  return client;
}

describe('against the real mosquitto broker', () => {
  it('publishes through mosquitto to a subscriber, and replays what was journaled while mosquitto restarted', async () => {
    const persistenceDir = await mkdtemp(join(tmpdir(), 'cityops-mosquitto-db-'));
    cleanups.push(() => rm(persistenceDir, { recursive: true, force: true }));
    let broker: Mosquitto = await startMosquitto({ persistenceDir, extraConfig: ['max_queued_messages 10000'] });
    cleanups.push(() => broker.stop());

    const got = new Map<string, number>();
    await subscriber(broker.url, (b) => got.set(`${b.boot}/${b.seq}`, b.readings));

    const agent = fixture.agent({ journalDir: await fixture.journalDir(), url: broker.url });
    const connected = once(agent, 'connected');
    await agent.start();
    await connected;
    for (let i = 0; i < 100; i++) await agent.push(routine(i));
    agent.flush();
    await agent.waitForIdle();
    await vi.waitFor(() => expect(got.size).toBe(10));

    const port = broker.port;
    const disconnected = once(agent, 'disconnected');
    await broker.stop();
    await disconnected;
    for (let i = 100; i < 400; i++) await agent.push(routine(i));
    await agent.push(alarm(400));
    agent.flush();
    await vi.waitFor(() => expect(agent.stats().journal.lanes.routine.pendingBatches).toBe(30));
    expect(agent.stats().connected).toBe(false);

    broker = await startMosquitto({ port, persistenceDir, extraConfig: ['max_queued_messages 10000'] });
    await agent.waitForIdle();
    expect(agent.stats().connections).toBe(2);
    await vi.waitFor(() => expect(got.size).toBe(41));
    expect([...got.keys()].sort()).toEqual(Array.from({ length: 41 }, (_, seq) => `${agent.boot}/${seq}`).sort());
    expect([...got.values()].reduce((a, b) => a + b, 0)).toBe(401);
  });
});
