import { createLogThrottle, referenceKindOf, referenceTopics } from '@cityops/protocol';
import { openReference, parseReferencePublisherKey } from '@cityops/verifier';
import type { Logger } from 'pino';
import type { ReferenceCache, ReferenceKind } from './reference-cache.ts';
import { scannerErrors } from './scanner-errors.ts';

export interface ReferencePushConfig {
  /** The verifier's reference signing key, its public half (PEM or base64 SPKI DER). */
  readonly publisherKey: string;
  /** The kinds this scanner keeps (trust always; revocation when it has a revocation source). */
  readonly kinds: readonly ReferenceKind[];
  /** Envelopes with a larger body are refused (the scanner's reference.maxSourceBytes). */
  readonly maxBytes: number;
}

export interface ReferencePushDeps {
  readonly cache: ReferenceCache;
  readonly logger: Logger;
  /** For the log throttle: a refusal is logged once a minute per kind, and counted every time. */
  readonly now?: () => number;
}

export interface ReferencePushStats {
  /** Pushed copies that replaced the one in use. */
  applied: number;
  /** Verified copies not above the version held (a retained copy seen again, a replay): ignored. */
  older: number;
  /** Copies refused: unsigned or signed by another key, altered, of another kind, or unparseable. */
  refused: number;
}

export interface ReferencePush {
  /** The exact topics to subscribe to (the broker lets a scanner read these and no wildcard). */
  readonly topics: readonly string[];
  /** Takes a message of one of `topics`; never throws (a refused copy is counted and logged). */
  onMessage(topic: string, payload: Buffer): void;
  stats(): ReferencePushStats;
}

/**
 * The scanner's side of pushed reference data (issue 18): the verifier publishes the trust list and
 * the revocation filter retained on cityops/v1/reference/{kind}, each in a signed envelope. A copy
 * is applied at once when its signature holds with the configured publisher key, its digest matches,
 * its kind is the topic's and its version is above the one held (persisted, so a restart does not
 * take back an older retained copy); it is then parsed with the same checks as a polled copy. The
 * HTTP poll stays: it is the fallback when the broker, the verifier or the push is gone.
 */
export function createReferencePush(config: ReferencePushConfig, deps: ReferencePushDeps): ReferencePush {
  const { cache, logger } = deps;
  const key = parseReferencePublisherKey(config.publisherKey);
  const counts: ReferencePushStats = { applied: 0, older: 0, refused: 0 };
  const shouldLog = createLogThrottle({ intervalMs: 60_000, now: deps.now ?? Date.now });

  function refused(kind: string, err: unknown): void {
    counts.refused++;
    if (shouldLog(kind)) logger.warn({ err: scannerErrors.SCANNER_ERR_REFERENCE_PUSH(kind, err), kind }, 'pushed reference data refused; the copy in use stays');
  }

  return {
    topics: config.kinds.map((kind) => referenceTopics[kind as keyof typeof referenceTopics]).filter((t): t is string => t !== undefined),
    onMessage(topic, payload) {
      const kind = referenceKindOf(topic);
      // An empty retained message clears the topic at the broker (MQTT 3.1.1 §3.3.1.3): nothing to apply.
      if (kind === undefined || !config.kinds.includes(kind) || payload.length === 0) return;
      let opened;
      try {
        opened = openReference(payload, key, config.maxBytes);
        if (opened.header.kind !== kind) throw new Error(`a ${opened.header.kind} envelope on the ${kind} topic`);
      } catch (err) {
        refused(kind, err);
        return;
      }
      const { version, freshAt } = opened.header;
      cache.offer(kind, opened.body, { version, freshAt }).then(
        (applied) => {
          if (!applied) {
            counts.older++;
            return;
          }
          counts.applied++;
          logger.info({ kind, version }, 'pushed reference data applied');
        },
        (err: unknown) => refused(kind, err),
      );
    },
    stats: () => ({ ...counts }),
  };
}
