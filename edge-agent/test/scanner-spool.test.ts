import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import { createEventSpool, type EventSpool, type EventSpoolConfig } from '../src/scanner/event-spool.ts';
import type { OfflineEvent } from '../src/scanner/offline-verifier.ts';

const event = (i: number): OfflineEvent => ({
  at: 1_795_690_000_000 + i,
  venue: 'mall-3',
  kind: 'health-code',
  verdict: 'allow',
  reason: 'OK',
  issuer: 'city-health',
  subjectHash: i.toString(16).padStart(64, '0'),
});

/** An event as the spool gives it back: with the id it was named with at append. */
const named = (i: number): OfflineEvent => ({ ...event(i), id: expect.stringMatching(/^[0-9a-f]{12}-\d+$/) as string });

describe('offline event spool (the edge journal, one event per record)', () => {
  const dirs: string[] = [];
  const spools: EventSpool[] = [];
  afterEach(async () => {
    for (const s of spools.splice(0)) await s.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function open(overrides: Partial<EventSpoolConfig> = {}, dir?: string): Promise<{ spool: EventSpool; dir: string; drops: unknown[] }> {
    const where = dir ?? (await mkdtemp(join(tmpdir(), 'cityops-spool-')));
    if (dir === undefined) dirs.push(where);
    const drops: unknown[] = [];
    const spool = createEventSpool(
      { dir: where, maxBytes: 1024 * 1024, segmentBytes: 4096, whenFull: 'drop-oldest', fsync: 'off', fsyncIntervalMs: 1000, maxPendingAppends: 1000, ...overrides },
      { logger: pino({ level: 'silent' }), timers: systemTimers, now: Date.now, onDrop: (d) => drops.push(d) },
    );
    await spool.open();
    spools.push(spool);
    return { spool, dir: where, drops };
  }

  it('keeps events across a restart until they are acknowledged, oldest first', async () => {
    const first = await open();
    for (let i = 0; i < 5; i++) expect(await first.spool.append(event(i))).toBe(true);
    const batch = await first.spool.oldest(2);
    expect(batch.events).toEqual([named(0), named(1)]);
    const before = (await first.spool.oldest(10)).events.map((e) => e.id);
    first.spool.acknowledge(batch.refs);
    await first.spool.close();

    const again = await open({}, first.dir);
    expect(again.spool.stats().pending).toBe(3);
    const after = (await again.spool.oldest(10)).events;
    expect(after).toEqual([named(2), named(3), named(4)]);
    // An event keeps its id through a restart: a resend is recognised by the verifier.
    expect(after.map((e) => e.id)).toEqual(before.slice(2));
    // Events of the new boot get ids of their own (a random boot id, not the journal's counter).
    await again.spool.append(event(5));
    const newest = (await again.spool.oldest(10)).events.at(-1)!;
    expect(newest.id).toMatch(/-0$/);
    expect(newest.id!.split('-')[0]).not.toBe(before[0]!.split('-')[0]);
    expect(new Set([...before, newest.id]).size).toBe(6);
  });

  it('drop-oldest: past maxBytes the oldest segment of events gives way, counted', async () => {
    const { spool, drops } = await open({ maxBytes: 16 * 1024, segmentBytes: 1024 });
    for (let i = 0; i < 300; i++) expect(await spool.append(event(i))).toBe(true);
    const stats = spool.stats();
    expect(stats.bytes).toBeLessThanOrEqual(16 * 1024);
    expect(stats.dropped.oldest).toBeGreaterThan(0);
    expect(stats.pending + stats.dropped.oldest).toBe(300);
    expect(drops).toContainEqual({ why: 'oldest', events: expect.any(Number) as number });
    // The newest survive.
    const kept = (await spool.oldest(1000)).events;
    expect(kept.at(-1)).toEqual(named(299));
    expect(kept[0]).toEqual(named(300 - kept.length));
  });

  it('drop-newest: past maxBytes new events are refused, the oldest kept', async () => {
    const { spool } = await open({ maxBytes: 16 * 1024, segmentBytes: 1024, whenFull: 'drop-newest' });
    const accepted: boolean[] = [];
    for (let i = 0; i < 300; i++) accepted.push(await spool.append(event(i)));
    const stats = spool.stats();
    expect(stats.dropped.newest).toBe(accepted.filter((a) => !a).length);
    expect(stats.dropped.newest).toBeGreaterThan(0);
    expect((await spool.oldest(1))).toMatchObject({ events: [named(0)] });
  });

  it('bounds the events waiting for the disk: beyond maxPendingAppends they are dropped, counted', async () => {
    const { spool } = await open({ maxPendingAppends: 2 });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => spool.append(event(i))));
    expect(results).toEqual([true, true, false, false, false, false]);
    expect(spool.stats()).toMatchObject({ pending: 2, appended: 2, dropped: { backlog: 4 } });
  });
});
