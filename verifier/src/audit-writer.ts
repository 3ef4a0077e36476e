import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import type { Reason } from './reasons.ts';
import type { VerifierMetrics } from './verifier-metrics.ts';

export const AUDIT_TABLE = 'verification_events';

/** One verdict as the audit trail keeps it. The person is only a keyed pseudonym. */
export interface AuditEvent {
  /** ms since the epoch. */
  readonly at: number;
  readonly venue: string;
  readonly kind: string;
  readonly verdict: 'allow' | 'deny';
  readonly reason: Reason;
  readonly issuer: string;
  readonly pseudonym: string;
  readonly scanner: string;
  readonly transport: 'http' | 'batch' | 'mqtt' | 'offline';
  readonly offline: boolean;
  readonly stale: boolean;
  /** Offline verdicts only: the scanner's id for the event (offline-events.ts), the key of exactly-once uploads. */
  readonly eventId?: string;
}

export interface AuditWriterConfig {
  readonly flushEvents: number;
  readonly flushIntervalMs: number;
  readonly maxBufferedEvents: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export interface AuditWriter {
  /** Never blocks a verdict: when the buffer is full the event is dropped and counted. */
  record(event: AuditEvent): void;
  /** Inserts what is buffered now and waits (one attempt). */
  flush(): Promise<void>;
  readonly buffered: number;
  start(): void;
  /** One last flush; what the warehouse does not take then is dropped and counted. */
  stop(): Promise<void>;
}

/** `YYYY-MM-DD hh:mm:ss.sss` UTC, the DateTime64 text every ClickHouse version parses the same way. */
export function dateTime64(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** A row of verification_events (`event_id` only when the event has one: online verdicts keep the default ''). */
export function auditRow(e: AuditEvent): Record<string, unknown> {
  return {
    at: dateTime64(e.at),
    venue: e.venue,
    kind: e.kind,
    verdict: e.verdict,
    reason: e.reason,
    issuer: e.issuer,
    pseudonym: e.pseudonym,
    scanner: e.scanner,
    transport: e.transport,
    offline: e.offline,
    stale: e.stale,
    ...(e.eventId === undefined ? {} : { event_id: e.eventId }),
  };
}

/**
 * Batches audit events into warehouse inserts: one insert at a time, of up to flushEvents rows,
 * when that many are buffered or flushIntervalMs after the oldest. A failed insert keeps its events
 * and is retried with exponential backoff. The bound is maxBufferedEvents (buffered plus in flight):
 * a warehouse outage longer than the buffer lasts drops new events, counted in
 * cityops_verifier_audit_events_total{outcome="dropped"}. Verdicts never wait for the audit.
 */
export function createAuditWriter(
  config: AuditWriterConfig,
  deps: { readonly warehouse: Warehouse; readonly metrics: VerifierMetrics; readonly logger: Logger },
): AuditWriter {
  const { warehouse, metrics, logger } = deps;
  let buffer: AuditEvent[] = [];
  let inFlight = 0;
  let flushing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let running = false;

  function schedule(delay: number): void {
    if (!running || timer !== undefined || buffer.length === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void kick();
    }, delay);
  }

  function kick(): Promise<void> {
    if (flushing !== undefined) return flushing;
    if (buffer.length === 0) return Promise.resolve();
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    const events = buffer.slice(0, config.flushEvents);
    buffer = buffer.slice(events.length);
    inFlight = events.length;
    flushing = warehouse
      .insertRows(AUDIT_TABLE, events.map(auditRow))
      .then(
        () => {
          failures = 0;
          metrics.auditEvents.inc({ outcome: 'written' }, events.length);
        },
        (err: unknown) => {
          failures++;
          metrics.auditWriteErrors.inc();
          if (failures === 1) logger.error({ err }, 'audit insert failed; retrying while the buffer has room');
          buffer = events.concat(buffer);
        },
      )
      .finally(() => {
        inFlight = 0;
        flushing = undefined;
        if (failures > 0) schedule(Math.min(config.retryMaxMs, config.retryMinMs * 2 ** (failures - 1)));
        else if (buffer.length >= config.flushEvents) void kick();
        else schedule(config.flushIntervalMs);
      });
    return flushing;
  }

  return {
    get buffered() {
      return buffer.length + inFlight;
    },
    record(event) {
      if (buffer.length + inFlight >= config.maxBufferedEvents) {
        metrics.auditEvents.inc({ outcome: 'dropped' });
        return;
      }
      buffer.push(event);
      if (failures === 0 && buffer.length >= config.flushEvents) void kick();
      else schedule(config.flushIntervalMs);
    },
    async flush() {
      await flushing;
      await kick();
    },
    start() {
      running = true;
      schedule(config.flushIntervalMs);
    },
    async stop() {
      running = false;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await flushing;
      while (buffer.length > 0) {
        const before = buffer.length;
        await kick();
        if (buffer.length >= before) break;
      }
      if (buffer.length > 0) {
        metrics.auditEvents.inc({ outcome: 'dropped' }, buffer.length);
        logger.warn({ dropped: buffer.length }, 'audit events dropped at stop: the warehouse did not take them');
        buffer = [];
      }
    },
  };
}
