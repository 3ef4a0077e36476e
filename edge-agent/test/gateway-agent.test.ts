import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { topics } from '@cityops/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeviceErrorReport } from '@cityops/protocol';
import { DEVICE, alarm, createAgentFixture, once, routine, segmentsOnDisk } from './agent-fixture.ts';
import { startAedesBroker, type TestBroker } from './aedes-broker.ts';

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

describe('gateway agent against an in-process Aedes broker', () => {
  it('delivers batches per lane in order with rising seq, then deletes them from the journal', async () => {
    const b = await broker();
    const journalDir = await fixture.journalDir();
    const agent = fixture.agent({ journalDir, url: b.url, journal: { fsync: 'batch' } });
    const connected = once(agent, 'connected');
    await agent.start();
    await connected;

    for (let i = 0; i < 205; i++) {
      await agent.push(routine(i));
      if (i % 70 === 0) await agent.push(alarm(i));
    }
    agent.flush();
    await agent.waitForIdle();

    const lanes = { alarm: b.received.filter((r) => r.alarm), routine: b.received.filter((r) => !r.alarm) };
    expect(lanes.alarm.map((r) => r.readings)).toEqual([1, 1, 1]);
    expect(lanes.routine.reduce((n, r) => n + r.readings, 0)).toBe(205);
    for (const lane of [lanes.alarm, lanes.routine]) {
      const seqs = lane.map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
    expect(new Set(b.received.map((r) => r.boot))).toEqual(new Set([agent.boot]));
    // seq counts every batch of the boot, both lanes: 0..n-1 without gaps.
    expect(b.received.map((r) => r.seq).sort((x, y) => x - y)).toEqual(b.received.map((_, i) => i));

    const stats = agent.stats();
    expect(stats).toMatchObject({ connected: true, readingsJournaled: 208, batchesAcked: b.received.length, batchesInflight: 0 });
    expect(stats.journal.lanes.routine).toMatchObject({ pendingBatches: 0, segments: 0, bytes: 0 });
    expect(await segmentsOnDisk(journalDir, 'routine')).toEqual({ files: 0, bytes: 0 });
    expect(await segmentsOnDisk(journalDir, 'alarm')).toEqual({ files: 0, bytes: 0 });
  });

  it('publishes a retained online status with its boot, and offline on stop', async () => {
    const b = await broker();
    const agent = fixture.agent({ journalDir: await fixture.journalDir(), url: b.url });
    const connected = once(agent, 'connected');
    await agent.start();
    await connected;
    await vi.waitFor(() => expect(b.statuses).toContainEqual(expect.objectContaining({ online: true, boot: agent.boot })));
    await agent.stop();
    expect(b.statuses.at(-1)).toMatchObject({ online: false, boot: agent.boot, reason: 'stopped' });
  });

  it('counts and reports the errors ingest publishes on the errors topic', async () => {
    const b = await broker();
    const agent = fixture.agent({ journalDir: await fixture.journalDir(), url: b.url });
    const connected = once(agent, 'connected');
    await agent.start();
    await connected;
    const reports: DeviceErrorReport[] = [];
    agent.on('ingest-error', (report) => reports.push(report));
    // The subscription is made right after CONNACK; wait until a report gets through.
    await vi.waitFor(async () => {
      await b.publish(topics.errors(DEVICE), JSON.stringify({ code: 'INGEST_ERR_TIMESTAMP_OUT_OF_RANGE', message: 'ts in 2099', boot: agent.boot, seq: 4 }));
      expect(reports.length).toBeGreaterThan(0);
    });
    const before = agent.stats().ingestErrors;
    await b.publish(topics.errors(DEVICE), 'not json');
    await vi.waitFor(() => expect(agent.stats().ingestErrors).toBe(before + 1));
    expect(reports[0]).toEqual({ code: 'INGEST_ERR_TIMESTAMP_OUT_OF_RANGE', message: 'ts in 2099', boot: agent.boot, seq: 4 });
    expect(reports.at(-1)?.code).toBe('UNREADABLE');
  });

  it('fails to start with a coded error when the journal directory is unusable, and stops cleanly', async () => {
    const file = join(await fixture.journalDir(), 'not-a-dir');
    await writeFile(file, 'x');
    const agent = fixture.agent({ journalDir: file, url: 'mqtt://127.0.0.1:1' });
    await expect(agent.start()).rejects.toMatchObject({ code: 'AGENT_ERR_JOURNAL_IO' });
    await agent.stop();
    await expect(agent.push(routine(0))).rejects.toMatchObject({ code: 'AGENT_ERR_STOPPED' });
  });

  it('rejects an invalid reading without stopping', async () => {
    const b = await broker();
    const agent = fixture.agent({ journalDir: await fixture.journalDir(), url: b.url });
    await agent.start();
    await agent.push({ sensor: 'bad sensor id', metric: 'pm25', ts: 1, value: 1 });
    await agent.push({ sensor: 'pm-1', metric: 'pm25', ts: 1, value: Number.NaN });
    await agent.push(routine(1));
    agent.flush();
    await agent.waitForIdle();
    expect(agent.stats()).toMatchObject({ readingsRejected: 2, readingsAccepted: 1, readingsJournaled: 1 });
    expect(b.received.map((r) => r.readings)).toEqual([1]);
  });
});
