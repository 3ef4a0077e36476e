import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../test-peers/free-port.ts';
import type { DropEvent } from '../src/index.ts';
import { DEVICE, alarm, createAgentFixture, routine, segmentsOnDisk } from './agent-fixture.ts';
import { startAedesBroker, type TestBroker } from './aedes-broker.ts';

const fixture = createAgentFixture();
const brokers: TestBroker[] = [];
afterEach(async () => {
  await fixture.cleanup();
  for (const b of brokers.splice(0)) await b.stop();
});

const MAX_BYTES = 16 * 1024;
const SEGMENT_BYTES = 4096;

/** An agent whose broker is not there yet, with a journal of 16 KiB in 4 KiB segments. */
async function offlineAgent(whenFull: 'drop-oldest-routine' | 'drop-newest') {
  const port = await freePort();
  const journalDir = await fixture.journalDir();
  const agent = fixture.agent({
    journalDir,
    url: `mqtt://127.0.0.1:${port}`,
    journal: { maxBytes: MAX_BYTES, segmentBytes: SEGMENT_BYTES, whenFull },
  });
  const drops: DropEvent[] = [];
  agent.on('dropped', (event) => drops.push(event));
  await agent.start();
  return { agent, port, journalDir, drops };
}

describe('journal full', () => {
  it('drop-oldest-routine: deletes the oldest routine segments, never an alarm, counts it, keeps running', async () => {
    const { agent, port, journalDir, drops } = await offlineAgent('drop-oldest-routine');
    // 150 routine batches of 10 readings (~300 bytes each: ~45 KiB), an alarm every 15th.
    for (let i = 0; i < 1500; i++) {
      await agent.push(routine(i));
      if (i % 150 === 0) await agent.push(alarm(i));
    }
    agent.flush();
    await vi.waitFor(() => expect(agent.stats().batchesJournaled).toBe(160));

    const stats = agent.stats();
    const dropped = stats.journal.dropped['drop-oldest-routine'];
    expect(dropped.batches).toBeGreaterThan(50);
    expect(dropped).toMatchObject({ alarmBatches: 0, alarmReadings: 0, readings: dropped.batches * 10 });
    expect(stats.journal.dropped['drop-newest'].batches).toBe(0);
    expect(drops.every((d) => d.policy === 'drop-oldest-routine' && d.what === 'oldest' && d.lane === 'routine')).toBe(true);
    expect(stats.journal.bytes).toBeLessThanOrEqual(MAX_BYTES);
    const onDisk = (await segmentsOnDisk(journalDir, 'routine')).bytes + (await segmentsOnDisk(journalDir, 'alarm')).bytes;
    expect(onDisk).toBe(stats.journal.bytes);
    expect(stats.journal.lanes.alarm.pendingBatches).toBe(10);
    expect(stats.journal.lanes.routine.pendingBatches).toBe(150 - dropped.batches);

    // When the broker appears: every alarm, and the newest routine batches, arrive.
    const b = await startAedesBroker(DEVICE, port);
    brokers.push(b);
    await agent.waitForIdle();
    expect(b.received.filter((r) => r.alarm)).toHaveLength(10);
    const routineSeqs = b.received.filter((r) => !r.alarm).map((r) => r.seq);
    expect(routineSeqs).toHaveLength(150 - dropped.batches);
    expect(routineSeqs.at(-1)).toBe(159); // the last batch journaled survived
  });

  it('drop-newest: refuses new routine batches once full, keeps the oldest, counts it, keeps running', async () => {
    const { agent, port, drops } = await offlineAgent('drop-newest');
    // Alarms pushed in one tick share a batch; each closes at once, without waiting for maxDelayMs.
    await Promise.all([0, 1, 2, 3, 4].map((i) => agent.push(alarm(i))));
    await vi.waitFor(() => expect(agent.stats().batchesJournaled).toBe(1));
    for (let i = 0; i < 1500; i++) await agent.push(routine(i));
    agent.flush();
    await vi.waitFor(() => expect(agent.stats().batchesJournaled + agent.stats().journal.dropped['drop-newest'].batches).toBe(151));

    const stats = agent.stats();
    const dropped = stats.journal.dropped['drop-newest'];
    expect(dropped.batches).toBeGreaterThan(50);
    expect(dropped).toMatchObject({ readings: dropped.batches * 10, alarmBatches: 0 });
    expect(drops.every((d) => d.what === 'newest' && d.lane === 'routine')).toBe(true);
    expect(stats.journal.bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(stats.journal.dropped['drop-oldest-routine'].batches).toBe(0);

    // Still running: a new alarm gets in (it takes the room of the oldest routine segment).
    await agent.push(alarm(99));
    await vi.waitFor(() => expect(agent.stats().journal.lanes.alarm.pendingBatches).toBe(2));

    const b = await startAedesBroker(DEVICE, port);
    brokers.push(b);
    await agent.waitForIdle();
    const routineSeqs = b.received.filter((r) => !r.alarm).map((r) => r.seq);
    // What survived is a run of the oldest batches (the first segment made room for the late alarm).
    expect(routineSeqs).toEqual(Array.from({ length: routineSeqs.length }, (_, i) => routineSeqs[0]! + i));
    expect(routineSeqs[0]).toBeLessThan(20);
    expect(b.received.filter((r) => r.alarm).map((r) => r.readings)).toEqual([5, 1]);
  });
});
