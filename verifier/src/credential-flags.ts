import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import { dateTime64 } from './audit-writer.ts';
import type { VerifierMetrics } from './verifier-metrics.ts';

export const FLAGS_TABLE = 'credential_flags';

/**
 * A credential flagged for sending more checks than a door can see: at most one per credential per
 * `rates.flagWindowMs` (credential-throttle.ts), so a flood writes a trickle. Analytics raises the
 * alert from these rows at the scanner's registered place (analytics/src/rules/scanner-flood.ts).
 */
export interface CredentialFlag {
  /** ms since the epoch. */
  readonly at: number;
  /** A scanner id, or `venue-token:<name>`. */
  readonly credential: string;
  /** The scanner of the request ('' for a venue token). */
  readonly scanner: string;
  /** The venue of the request (the registry's, once the transports take it from there). */
  readonly venue: string;
  readonly transport: 'http' | 'batch' | 'mqtt' | 'offline';
}

export interface CredentialFlagsConfig {
  /** Flags waiting for the warehouse; beyond, new flags are dropped and counted. */
  readonly maxPending: number;
  /** After a failed insert, the next attempt. */
  readonly retryMs: number;
}

export interface CredentialFlags {
  /** Never blocks a request: a flag is queued, written in the background, dropped and counted when the queue is full. */
  record(flag: CredentialFlag): void;
  readonly pending: number;
  /** Resolves when what is queued now has been written or has failed once. */
  flush(): Promise<void>;
  /** One last attempt; what the warehouse does not take then is dropped and counted. */
  stop(): Promise<void>;
}

function flagRow(f: CredentialFlag): Record<string, unknown> {
  return { at: dateTime64(f.at), credential: f.credential, scanner: f.scanner, venue: f.venue, transport: f.transport };
}

/**
 * Writes flags to `credential_flags`, one insert at a time of everything queued. Flags are rare (one
 * per flooding credential per window), so there is no batching delay: a flag reaches analytics at once.
 */
export function createCredentialFlags(
  config: CredentialFlagsConfig,
  deps: { readonly warehouse: Warehouse; readonly metrics: VerifierMetrics; readonly logger: Logger },
): CredentialFlags {
  const { warehouse, metrics, logger } = deps;
  let queue: CredentialFlag[] = [];
  let inFlight = 0;
  let writing: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let failing = false;
  let stopped = false;

  function write(): Promise<void> {
    if (writing !== undefined) return writing;
    if (queue.length === 0) return Promise.resolve();
    const flags = queue;
    queue = [];
    inFlight = flags.length;
    writing = warehouse
      .insertRows(FLAGS_TABLE, flags.map(flagRow))
      .then(
        () => {
          failing = false;
          metrics.flags.inc({ outcome: 'written' }, flags.length);
        },
        (err: unknown) => {
          if (!failing) logger.error({ err }, 'credential flags not written; retrying while the queue has room');
          failing = true;
          queue = flags.concat(queue);
        },
      )
      .finally(() => {
        inFlight = 0;
        writing = undefined;
        if (stopped || queue.length === 0) return;
        if (!failing) void write();
        else
          retry ??= setTimeout(() => {
            retry = undefined;
            void write();
          }, config.retryMs).unref();
      });
    return writing;
  }

  return {
    get pending() {
      return queue.length + inFlight;
    },
    record(flag) {
      if (stopped || queue.length + inFlight >= config.maxPending) {
        metrics.flags.inc({ outcome: 'dropped' });
        return;
      }
      queue.push(flag);
      if (!failing) void write();
    },
    async flush() {
      await writing;
      await write();
    },
    async stop() {
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      retry = undefined;
      await writing;
      await write();
      if (queue.length > 0) {
        metrics.flags.inc({ outcome: 'dropped' }, queue.length);
        queue = [];
      }
    },
  };
}
