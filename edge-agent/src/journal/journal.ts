import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Timers } from '../agent-deps.ts';
import { agentErrors } from '../errors.ts';
import type { JournalPosition } from './ack-pointer.ts';
import { advanceBootCounter } from './boot-counter.ts';
import { createJournalLane, type FsyncPolicy, type JournalLane, type JournalRecord, type LaneStats, type RecordRef } from './lane.ts';
import { LANES, SEGMENT_HEADER_BYTES, encodeRecord, type Lane, type RecordMeta } from './record-format.ts';
import { createSerialQueue } from './serial-queue.ts';

export const WHEN_FULL_POLICIES = ['drop-oldest-routine', 'drop-newest'] as const;
export type WhenFullPolicy = (typeof WHEN_FULL_POLICIES)[number];
export const FSYNC_POLICIES = ['batch', 'interval', 'off'] as const satisfies readonly FsyncPolicy[];

export interface JournalConfig {
  readonly dir: string;
  /** Bound on all segment files of both lanes together. */
  readonly maxBytes: number;
  /** A segment is sealed and a new one started past this size; drops happen a segment at a time. */
  readonly segmentBytes: number;
  readonly whenFull: WhenFullPolicy;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  /** Read size for startup scans and replay. */
  readonly readChunkBytes: number;
}

export interface JournalDeps {
  readonly logger: Logger;
  readonly timers: Timers;
  readonly now: () => number;
}

/** What the full-journal policy threw away; `alarm*` is the alarm-class part of it. */
export interface DropCount {
  batches: number;
  readings: number;
  alarmBatches: number;
  alarmReadings: number;
}

export interface DropEvent {
  readonly policy: WhenFullPolicy;
  /** `oldest`: a whole segment of older batches was deleted; `newest`: the incoming batch was refused. */
  readonly what: 'oldest' | 'newest';
  readonly lane: Lane;
  readonly batches: number;
  readonly readings: number;
}

export interface JournalStats {
  bytes: number;
  maxBytes: number;
  lanes: Record<Lane, LaneStats>;
  dropped: Record<WhenFullPolicy, DropCount>;
  /** Torn or damaged places cut off (at startup or during replay) and the bytes cut. */
  truncations: number;
  truncatedBytes: number;
  appendErrors: number;
}

export interface JournalOpenReport {
  readonly boot: number;
  readonly bootFromClock: boolean;
}

export interface Journal {
  /** Scans and repairs the journal, then takes the next boot number. */
  open(): Promise<JournalOpenReport>;
  /** Journals a batch; undefined when the full-journal policy refused it. */
  append(lane: Lane, meta: RecordMeta, payload: Uint8Array): Promise<RecordRef | undefined>;
  read(lane: Lane, from: JournalPosition, maxRecords: number): Promise<{ records: JournalRecord[]; next: JournalPosition }>;
  firstUnacked(lane: Lane): JournalPosition;
  ack(ref: RecordRef): void;
  /** Batches journaled and not yet acknowledged, both lanes. */
  pendingBatches(): number;
  stats(): JournalStats;
  close(): Promise<void>;
}

export interface JournalHooks {
  readonly onDrop?: (event: DropEvent) => void;
  /** After acknowledged segments were deleted. */
  readonly onReclaim?: () => void;
}

const emptyDrops = (): DropCount => ({ batches: 0, readings: 0, alarmBatches: 0, alarmReadings: 0 });

/**
 * The on-disk journal: two lanes (alarm, routine) of segment files under one size bound. Every
 * file operation runs through one serial queue. Memory holds segment bookkeeping only; records are
 * read back a few at a time for replay.
 */
export function createJournal(config: JournalConfig, deps: JournalDeps, hooks: JournalHooks = {}): Journal {
  const { logger, timers } = deps;
  const queue = createSerialQueue();
  const lanes: Record<Lane, JournalLane> = {
    alarm: createJournalLane(laneConfig('alarm'), { logger }),
    routine: createJournalLane(laneConfig('routine'), { logger }),
  };
  const dropped: Record<WhenFullPolicy, DropCount> = { 'drop-oldest-routine': emptyDrops(), 'drop-newest': emptyDrops() };
  let appendErrors = 0;
  let reclaimQueued = false;
  let syncTimer: unknown;
  let state: 'new' | 'open' | 'closed' = 'new';

  function laneConfig(lane: Lane) {
    return {
      dir: join(config.dir, lane),
      lane,
      segmentBytes: config.segmentBytes,
      fsync: config.fsync,
      readChunkBytes: config.readChunkBytes,
    };
  }

  const totalBytes = () => lanes.alarm.bytes + lanes.routine.bytes;

  /** Which lane gives up its oldest segment so that a batch for `lane` fits; undefined: refuse it. */
  function victimFor(lane: Lane): Lane | undefined {
    if (lanes.routine.segmentCount > 0 && (config.whenFull === 'drop-oldest-routine' || lane === 'alarm')) return 'routine';
    // Only alarms remain: an older alarm gives way to a newer alarm, never to a routine batch.
    if (config.whenFull === 'drop-oldest-routine' && lane === 'alarm' && lanes.alarm.segmentCount > 0) return 'alarm';
    return undefined;
  }

  function countDrop(event: DropEvent): void {
    const count = dropped[event.policy];
    count.batches += event.batches;
    count.readings += event.readings;
    if (event.lane === 'alarm') {
      count.alarmBatches += event.batches;
      count.alarmReadings += event.readings;
    }
    logger.warn(
      {
        err: agentErrors.AGENT_ERR_JOURNAL_FULL(
          `${event.policy}: ${event.what === 'oldest' ? 'deleted the oldest' : 'refused the newest'} ${event.lane} batches (${event.batches} batches, ${event.readings} readings)`,
        ),
        maxBytes: config.maxBytes,
      },
      'journal full',
    );
    hooks.onDrop?.(event);
  }

  async function reclaimAll(): Promise<void> {
    let removed = 0;
    for (const lane of LANES) removed += await lanes[lane].reclaim();
    if (removed > 0) hooks.onReclaim?.();
  }

  function scheduleReclaim(): void {
    if (reclaimQueued || state !== 'open') return;
    reclaimQueued = true;
    queue
      .run(async () => {
        reclaimQueued = false;
        if (state === 'open') await reclaimAll();
      })
      .catch((err: unknown) => {
        logger.error({ err: agentErrors.AGENT_ERR_JOURNAL_IO('deleting acknowledged segments', err) }, 'journal reclaim failed');
      });
  }

  return {
    async open() {
      if (state !== 'new') throw agentErrors.AGENT_ERR_STOPPED('journal opened twice');
      let maxBoot = 0;
      let boot: Awaited<ReturnType<typeof advanceBootCounter>>;
      try {
        await mkdir(config.dir, { recursive: true });
        for (const lane of LANES) {
          const report = await lanes[lane].open();
          maxBoot = Math.max(maxBoot, report.maxBoot);
        }
        await reclaimAll();
        boot = await advanceBootCounter(config.dir, maxBoot, deps.now());
      } catch (err) {
        state = 'closed';
        for (const lane of [...LANES].reverse()) await lanes[lane].close().catch(() => undefined);
        throw err;
      }
      if (boot.problem !== undefined) {
        logger.error(
          { err: agentErrors.AGENT_ERR_JOURNAL_CORRUPT(`${boot.problem}; boot ${boot.boot} taken from the clock`) },
          'boot counter unreadable',
        );
      }
      state = 'open';
      if (config.fsync === 'interval') {
        syncTimer = timers.setInterval(() => {
          if (state !== 'open') return;
          queue
            .run(async () => {
              for (const lane of LANES) await lanes[lane].sync();
            })
            .catch((err: unknown) => logger.error({ err: agentErrors.AGENT_ERR_JOURNAL_IO('fsync', err) }, 'journal fsync failed'));
        }, config.fsyncIntervalMs);
        (syncTimer as { unref?: () => void }).unref?.();
      }
      return { boot: boot.boot, bootFromClock: boot.fromClock };
    },

    append(lane, meta, payload) {
      const record = encodeRecord(meta, payload);
      return queue.run(async () => {
        if (state !== 'open') throw agentErrors.AGENT_ERR_STOPPED('journal is closed');
        await reclaimAll();
        const refuse = (): undefined => {
          countDrop({ policy: config.whenFull, what: 'newest', lane, batches: 1, readings: meta.readings });
          return undefined;
        };
        // A record that could not fit even in an empty journal must not empty it first.
        if (record.length + SEGMENT_HEADER_BYTES > config.maxBytes) return refuse();
        while (totalBytes() + lanes[lane].costOf(record.length) > config.maxBytes) {
          const victim = victimFor(lane);
          if (victim === undefined) return refuse();
          const drop = await lanes[victim].dropOldest();
          if (drop === undefined) return refuse();
          if (drop.batches > 0) countDrop({ policy: config.whenFull, what: 'oldest', lane: victim, ...drop });
        }
        try {
          return await lanes[lane].append(record, meta);
        } catch (err) {
          appendErrors++;
          throw agentErrors.AGENT_ERR_JOURNAL_IO(`appending to the ${lane} lane: ${(err as Error).message}`, err);
        }
      });
    },

    read(lane, from, maxRecords) {
      return queue.run(async () => {
        if (state !== 'open') return { records: [], next: from };
        return lanes[lane].read(from, maxRecords);
      });
    },

    firstUnacked: (lane) => lanes[lane].firstUnacked(),

    ack(ref) {
      if (state === 'open' && lanes[ref.lane].ack(ref)) scheduleReclaim();
    },

    pendingBatches: () => lanes.alarm.stats().pendingBatches + lanes.routine.stats().pendingBatches,

    stats() {
      const alarm = lanes.alarm.stats();
      const routine = lanes.routine.stats();
      return {
        bytes: totalBytes(),
        maxBytes: config.maxBytes,
        lanes: { alarm, routine },
        dropped: { 'drop-oldest-routine': { ...dropped['drop-oldest-routine'] }, 'drop-newest': { ...dropped['drop-newest'] } },
        truncations: alarm.truncations + routine.truncations,
        truncatedBytes: alarm.truncatedBytes + routine.truncatedBytes,
        appendErrors,
      };
    },

    async close() {
      if (state === 'closed') return;
      const wasOpen = state === 'open';
      state = 'closed';
      timers.clearInterval(syncTimer);
      if (!wasOpen) return;
      await queue.run(async () => {
        // Reverse of opening: the routine lane was opened last.
        for (const lane of [...LANES].reverse()) await lanes[lane].reclaim();
        for (const lane of [...LANES].reverse()) await lanes[lane].close();
      });
    },
  };
}
