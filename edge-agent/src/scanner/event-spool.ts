import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Timers } from '../agent-deps.ts';
import { createJournal, type DropEvent, type Journal } from '../journal/journal.ts';
import type { FsyncPolicy, RecordRef } from '../journal/lane.ts';
import type { OfflineEvent } from './offline-verifier.ts';
import { scannerErrors } from './scanner-errors.ts';

export type SpoolWhenFull = 'drop-oldest' | 'drop-newest';

export interface EventSpoolConfig {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  readonly whenFull: SpoolWhenFull;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  /** Events waiting to be written; beyond, an event is dropped (counted as `backlog`). */
  readonly maxPendingAppends: number;
}

export interface EventSpoolDeps {
  readonly logger: Logger;
  readonly timers: Timers;
  readonly now: () => number;
  readonly onDrop?: (dropped: { readonly why: SpoolDropReason; readonly events: number }) => void;
}

/** `oldest`: a segment of older events gave way; `newest`: the new event was refused; `backlog`: too many waited for the disk. */
export type SpoolDropReason = 'oldest' | 'newest' | 'backlog';

export interface SpooledEvents {
  readonly events: OfflineEvent[];
  /** To acknowledge once the verifier has them (unreadable records are among them, to be skipped too). */
  readonly refs: RecordRef[];
}

export interface EventSpoolStats {
  /** Events on disk not yet acknowledged by the verifier. */
  pending: number;
  bytes: number;
  appended: number;
  acknowledged: number;
  dropped: Record<SpoolDropReason, number>;
  /** Records that could not be read back as an event (damage): skipped. */
  unreadable: number;
  appendErrors: number;
}

export interface EventSpool {
  open(): Promise<void>;
  /**
   * Writes one event under a new id (`<boot id>-<sequence>`, unless it has one), the name the
   * verifier recognises a resend by; false when it was dropped (policy, backlog, or a disk error), counted.
   */
  append(event: OfflineEvent): Promise<boolean>;
  /** The oldest unacknowledged events, up to `max`. */
  oldest(max: number): Promise<SpooledEvents>;
  /** The verifier has these: they may leave the disk. */
  acknowledge(refs: readonly RecordRef[]): void;
  stats(): EventSpoolStats;
  close(): Promise<void>;
}

const LANE = 'routine';

/**
 * The offline verdicts' events on disk until the verifier has them: the gateway agent's journal
 * (segments, CRC per record, ack pointer, torn-tail repair, size bound with a drop policy), one
 * event per record in its routine lane, the event's JSON as the payload. Segments go once every
 * event in them is acknowledged.
 */
export function createEventSpool(config: EventSpoolConfig, deps: EventSpoolDeps): EventSpool {
  const { logger } = deps;
  const dropped: Record<SpoolDropReason, number> = { oldest: 0, newest: 0, backlog: 0 };
  let appended = 0;
  let acknowledged = 0;
  let unreadable = 0;
  let appendErrors = 0;
  let waiting = 0;
  let boot = 0;
  let seq = 0;
  // Random per open, so that a scanner whose data directory was wiped (journal boot back to 1)
  // never reuses an id the verifier has already stored. 48 bits, 12 hex digits.
  let bootId = '';

  function drop(why: SpoolDropReason, events: number): void {
    dropped[why] += events;
    deps.onDrop?.({ why, events });
  }

  const journal: Journal = createJournal(
    {
      dir: config.dir,
      maxBytes: config.maxBytes,
      segmentBytes: config.segmentBytes,
      // Only the routine lane is used: both policies then act on it alone.
      whenFull: config.whenFull === 'drop-oldest' ? 'drop-oldest-routine' : 'drop-newest',
      fsync: config.fsync,
      fsyncIntervalMs: config.fsyncIntervalMs,
      readChunkBytes: 64 * 1024,
    },
    { logger, timers: deps.timers, now: deps.now },
    { onDrop: (event: DropEvent) => drop(event.what, event.readings) },
  );

  return {
    async open() {
      boot = (await journal.open()).boot;
      bootId = randomBytes(6).toString('hex');
    },

    async append(event) {
      if (waiting >= config.maxPendingAppends) {
        drop('backlog', 1);
        logger.warn({ err: scannerErrors.SCANNER_ERR_SPOOL_FULL(`${waiting} events wait for the disk`) }, 'offline event dropped');
        return false;
      }
      waiting++;
      const n = seq++;
      const named: OfflineEvent = { id: `${bootId}-${n}`, ...event };
      try {
        const ref = await journal.append(LANE, { boot, seq: n, readings: 1 }, Buffer.from(JSON.stringify(named), 'utf8'));
        if (ref === undefined) return false;
        appended++;
        return true;
      } catch (err) {
        appendErrors++;
        logger.error({ err: scannerErrors.SCANNER_ERR_SPOOL_IO('append', err) }, 'offline event not spooled');
        return false;
      } finally {
        waiting--;
      }
    },

    async oldest(max) {
      const { records } = await journal.read(LANE, journal.firstUnacked(LANE), max);
      const events: OfflineEvent[] = [];
      for (const record of records) {
        try {
          events.push(JSON.parse(record.payload.toString('utf8')) as OfflineEvent);
        } catch {
          unreadable++;
        }
      }
      return { events, refs: records.map(({ payload: _payload, ...ref }) => ref) };
    },

    acknowledge(refs) {
      for (const ref of refs) journal.ack(ref);
      acknowledged += refs.length;
    },

    stats() {
      const s = journal.stats();
      return {
        pending: s.lanes.routine.pendingBatches,
        bytes: s.bytes,
        appended,
        acknowledged,
        dropped: { ...dropped },
        unreadable,
        appendErrors: appendErrors + s.appendErrors,
      };
    },

    close: () => journal.close(),
  };
}
