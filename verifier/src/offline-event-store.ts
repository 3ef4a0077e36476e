import { createHash } from 'node:crypto';
import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import { AUDIT_TABLE, auditRow, dateTime64, type AuditEvent } from './audit-writer.ts';
import type { VerifierMetrics } from './verifier-metrics.ts';

export interface OfflineEventStoreConfig {
  /** (scanner, event id) pairs remembered as stored; beyond, the oldest are forgotten (the warehouse still knows them). */
  readonly recentIds: number;
}

export interface StoredUpload {
  /** Rows written now. */
  readonly stored: number;
  /** Events already stored before (a resend, an overlapping upload): not written again. */
  readonly duplicates: number;
}

export interface OfflineEventStore {
  /** Writes the events not stored yet; resolves once they are in the warehouse, rejects when it did not take them. */
  store(scanner: string, events: readonly AuditEvent[]): Promise<StoredUpload>;
  readonly recentSize: number;
}

const COLUMNS = 'at, venue, kind, verdict, reason, issuer, pseudonym, scanner, transport, offline, stale, event_id';
const STRUCTURE =
  "at DateTime64(3, 'UTC'), venue String, kind String, verdict String, reason String, issuer String, pseudonym String, " +
  'scanner String, transport String, offline Bool, stale Bool, event_id String';
/**
 * The rows travel as one query parameter read by the `format` table function, so the insert can
 * carry its deduplication token. `deduplicate_blocks_in_dependent_materialized_views`: a block the
 * table drops as a duplicate must not reach the per-minute rollup either (migration 8 gives both a
 * deduplication window).
 */
const INSERT =
  `INSERT INTO ${AUDIT_TABLE} (${COLUMNS}) ` +
  'SETTINGS insert_deduplication_token = {token:String}, deduplicate_blocks_in_dependent_materialized_views = 1 ' +
  `SELECT * FROM format(JSONEachRow, '${STRUCTURE.replaceAll("'", "\\'")}', {rows:String})`;
const ALREADY_STORED =
  `SELECT DISTINCT event_id FROM ${AUDIT_TABLE} WHERE scanner = {scanner:String} AND event_id IN {ids:Array(String)} ` +
  "AND at >= {from:DateTime64(3, 'UTC')} AND at <= {to:DateTime64(3, 'UTC')}";

/**
 * Offline uploads written exactly once. Three layers, each covering what the one before cannot:
 *
 * 1. a bounded set of recently stored (scanner, id) pairs: a resend to the same verifier costs no query;
 * 2. a lookup of the upload's ids in `verification_events` (partition-pruned by the events' times,
 *    a skip index on `event_id`): a resend after a verifier restart, or to another verifier after
 *    the scanners were re-partitioned, finds what is there;
 * 3. the insert of the rest carries an `insert_deduplication_token` made from scanner and ids: an
 *    insert that committed although its caller saw an error (a timeout) and is sent again, or two
 *    verifiers writing the same upload at once during a membership change, write one block.
 *
 * Uploads of one scanner are stored one after the other, so an overlapping resend cannot pass the
 * lookup while the first is still being inserted. A ReplacingMergeTree alone would show duplicates
 * until a merge (and to every `count()`); the token alone misses an overlapping upload (other ids,
 * other token).
 */
export function createOfflineEventStore(
  config: OfflineEventStoreConfig,
  deps: { readonly warehouse: Warehouse; readonly metrics: VerifierMetrics; readonly logger: Logger },
): OfflineEventStore {
  const { warehouse, metrics } = deps;
  // Insertion order is age order: the first key is the oldest.
  const recent = new Set<string>();
  const queues = new Map<string, Promise<unknown>>();

  function remember(key: string): void {
    recent.add(key);
    if (recent.size > config.recentIds) {
      const oldest = recent.values().next().value;
      if (oldest !== undefined) recent.delete(oldest);
    }
  }

  async function storeNow(scanner: string, events: readonly AuditEvent[]): Promise<StoredUpload> {
    const fresh = new Map<string, AuditEvent>();
    let duplicates = 0;
    for (const e of events) {
      const id = e.eventId ?? '';
      if (id === '' || recent.has(`${scanner}\u0000${id}`) || fresh.has(id)) duplicates++;
      else fresh.set(id, e);
    }
    if (fresh.size > 0) {
      const times = [...fresh.values()].map((e) => e.at);
      const there = await warehouse.query<{ event_id: string }>(ALREADY_STORED, {
        scanner,
        ids: [...fresh.keys()],
        from: dateTime64(Math.min(...times)),
        to: dateTime64(Math.max(...times)),
      });
      for (const { event_id: id } of there) {
        if (fresh.delete(id)) {
          duplicates++;
          remember(`${scanner}\u0000${id}`);
        }
      }
    }
    if (fresh.size > 0) {
      const ids = [...fresh.keys()].sort();
      const token = `offline-${createHash('sha256').update(`${scanner}\n${ids.join('\n')}`).digest('hex')}`;
      const rows = [...fresh.values()].map((e) => JSON.stringify(auditRow(e))).join('\n');
      await warehouse.command(INSERT, { token, rows });
      for (const id of ids) remember(`${scanner}\u0000${id}`);
      metrics.auditEvents.inc({ outcome: 'written' }, fresh.size);
    }
    metrics.offlineEvents.inc({ outcome: 'stored' }, fresh.size);
    metrics.offlineEvents.inc({ outcome: 'duplicate' }, duplicates);
    return { stored: fresh.size, duplicates };
  }

  return {
    get recentSize() {
      return recent.size;
    },
    store(scanner, events) {
      const previous = queues.get(scanner) ?? Promise.resolve();
      const mine = previous.catch(() => undefined).then(() => storeNow(scanner, events));
      const settled = mine.catch(() => undefined);
      queues.set(scanner, settled);
      void settled.then(() => {
        if (queues.get(scanner) === settled) queues.delete(scanner);
      });
      return mine;
    },
  };
}
