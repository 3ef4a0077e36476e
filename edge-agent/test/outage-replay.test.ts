import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../test-peers/free-port.ts';
import { DEVICE, alarm, createAgentFixture, once, routine, segmentsOnDisk } from './agent-fixture.ts';
import { startAedesBroker, type ReceivedBatch, type TestBroker } from './aedes-broker.ts';

const fixture = createAgentFixture();
const brokers: TestBroker[] = [];
afterEach(async () => {
  await fixture.cleanup();
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(port = 0): Promise<TestBroker> {
  const b = await startAedesBroker(DEVICE, port);
  brokers.push(b);
  return b;
}

const keys = (batches: readonly ReceivedBatch[]) => batches.map((r) => `${r.boot}/${r.seq}`);

describe('outage and replay', () => {
  it('journals to disk while the broker is gone and replays everything, alarms first, when it is back', async () => {
    const first = await broker();
    const journalDir = await fixture.journalDir();
    const agent = fixture.agent({ journalDir, url: first.url, batch: { maxPendingBatches: 4 } });
    const connected = once(agent, 'connected');
    await agent.start();
    await connected;
    for (let i = 0; i < 50; i++) await agent.push(routine(i));
    agent.flush();
    await agent.waitForIdle();
    expect(first.received).toHaveLength(5);

    const disconnected = once(agent, 'disconnected');
    await first.stop();
    await disconnected;

    // The outage: 600 routine readings and 20 alarms keep coming.
    for (let i = 50; i < 650; i++) {
      await agent.push(routine(i));
      if (i % 30 === 0) await agent.push(alarm(i));
    }
    agent.flush();
    await vi.waitFor(() => expect(agent.stats().batchesJournaled).toBe(5 + 60 + 20));
    const offline = agent.stats();
    expect(offline.connected).toBe(false);
    expect(offline.journal.lanes.routine).toMatchObject({ pendingBatches: 60, pendingReadings: 600 });
    expect(offline.journal.lanes.alarm).toMatchObject({ pendingBatches: 20, pendingReadings: 20 });
    // What waits is on disk; memory holds at most the bounded queues.
    const onDisk = (await segmentsOnDisk(journalDir, 'routine')).bytes + (await segmentsOnDisk(journalDir, 'alarm')).bytes;
    expect(onDisk).toBe(offline.journal.bytes);
    expect(onDisk).toBeGreaterThan(600 * 20);
    expect(offline.memory).toEqual({ batcherReadings: 0, pendingBatches: 0 });
    expect(offline.reconnects).toBeGreaterThan(0);

    const second = await broker(first.port); // back on the same port
    await agent.waitForIdle();
    const replayed = second.received;
    const firstRoutine = replayed.findIndex((r) => !r.alarm);
    expect(replayed.slice(0, firstRoutine).every((r) => r.alarm)).toBe(true);
    expect(replayed.slice(firstRoutine).some((r) => r.alarm)).toBe(false);
    expect(replayed.filter((r) => r.alarm)).toHaveLength(20);

    // Nothing lost: every (boot, seq) of the boot arrived, and every reading.
    const all = [...first.received, ...replayed];
    const unique = new Map(all.map((r) => [`${r.boot}/${r.seq}`, r]));
    expect([...unique.values()].map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 85 }, (_, i) => i));
    expect([...unique.values()].reduce((n, r) => n + r.readings, 0)).toBe(650 + 20);
    const routineSeqs = replayed.filter((r) => !r.alarm).map((r) => r.seq);
    expect(routineSeqs).toEqual([...routineSeqs].sort((a, b) => a - b));
    expect(await segmentsOnDisk(journalDir, 'routine')).toEqual({ files: 0, bytes: 0 });
  });

  it('after a restart replays unacknowledged batches with their original (boot, seq) and bytes, then uses a new boot', async () => {
    const first = await broker();
    first.holdAcks(); // the broker takes the batches but never acknowledges them
    const journalDir = await fixture.journalDir();
    const agent1 = fixture.agent({ journalDir, url: first.url });
    const connected = once(agent1, 'connected');
    await agent1.start();
    await connected;
    for (let i = 0; i < 30; i++) await agent1.push(routine(i));
    agent1.flush();
    await vi.waitFor(() => expect(agent1.stats().batchesPublished).toBe(3));
    await agent1.stop();
    expect(agent1.stats()).toMatchObject({ batchesAcked: 0 });
    const boot1 = agent1.boot;

    const second = await broker();
    const agent2 = fixture.agent({ journalDir, url: second.url });
    await agent2.start();
    expect(agent2.boot).toBe(boot1 + 1);
    for (let i = 30; i < 50; i++) await agent2.push(routine(i));
    agent2.flush();
    await agent2.waitForIdle();

    expect(keys(second.received)).toEqual([`${boot1}/0`, `${boot1}/1`, `${boot1}/2`, `${boot1 + 1}/0`, `${boot1 + 1}/1`]);
    // A replay sends the journaled bytes: identical to the first, unacknowledged, transmission.
    expect(keys(first.arrived)).toEqual(keys(second.received.slice(0, 3)));
    expect(second.received.slice(0, 3).map((r) => r.bytes)).toEqual(first.arrived.map((r) => r.bytes));
    expect(first.received).toEqual([]);
  });

  it('keeps at most maxInflight batches unacknowledged, and reconnects to replay them when PUBACKs stop', async () => {
    const b = await broker();
    b.holdAcks();
    const agent = fixture.agent({ journalDir: await fixture.journalDir(), url: b.url, mqtt: { maxInflight: 4, ackTimeoutMs: 300 } });
    const published: string[][] = []; // per connection, the batches sent
    const maxInflight: number[] = [];
    let secondConnection!: () => void;
    const reconnected = new Promise<void>((resolve) => (secondConnection = resolve));
    agent.on('connected', () => {
      published.push([]);
      if (published.length === 2) secondConnection();
    });
    agent.on('published', (ref) => {
      published.at(-1)!.push(`${ref.boot}/${ref.seq}`);
      maxInflight.push(agent.stats().batchesInflight);
    });
    await agent.start();
    for (let i = 0; i < 100; i++) await agent.push(routine(i));
    agent.flush();
    await vi.waitFor(() => expect(agent.stats().batchesJournaled).toBe(10));

    await reconnected; // no PUBACK for 300 ms: the agent dropped the connection and came back
    const first = Array.from({ length: 4 }, (_, seq) => `${agent.boot}/${seq}`);
    expect(published[0]).toEqual(first); // the window was full: nothing more went out
    await vi.waitFor(() => expect(published[1]).toEqual(first)); // the same batches, again, in order
    b.releaseAcks();
    await agent.waitForIdle();
    expect(Math.max(...maxInflight)).toBe(4);
    expect(new Set(keys(b.received))).toEqual(new Set(Array.from({ length: 10 }, (_, seq) => `${agent.boot}/${seq}`)));
    expect(agent.stats().journal.lanes.routine.pendingBatches).toBe(0);
  });

  it('cuts a torn tail record left by a crash, counts it, and delivers the intact batches', async () => {
    const port = await freePort(); // no broker yet: everything stays in the journal
    const journalDir = await fixture.journalDir();
    const agent1 = fixture.agent({ journalDir, url: `mqtt://127.0.0.1:${port}` });
    await agent1.start();
    for (let i = 0; i < 40; i++) await agent1.push(routine(i));
    agent1.flush();
    await vi.waitFor(() => expect(agent1.stats().batchesJournaled).toBe(4));
    await agent1.stop();

    // The crash: the last write got its length prefix and part of its body onto the disk.
    const dir = join(journalDir, 'routine');
    const last = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort().at(-1)!;
    await appendFile(join(dir, last), Buffer.from([0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));

    const b = await broker(port);
    const agent2 = fixture.agent({ journalDir, url: b.url });
    await agent2.start();
    expect(agent2.stats().journal).toMatchObject({ truncations: 1, truncatedBytes: 11 });
    await agent2.waitForIdle();
    expect(keys(b.received)).toEqual([0, 1, 2, 3].map((seq) => `${agent1.boot}/${seq}`));
  });
});
