import { performance } from 'node:perf_hooks';
import { authenticateCode, type Authentication, type CodeDecoder } from './authenticate-code.ts';
import type { AuditWriter } from './audit-writer.ts';
import type { CredentialFlags } from './credential-flags.ts';
import type { CredentialThrottle } from './credential-throttle.ts';
import { verdictKey } from './identifier-hashes.ts';
import { judgeCode, type JudgeOptions } from './judge-code.ts';
import type { Reason } from './reasons.ts';
import type { ReferenceStore } from './reference-store.ts';
import type { VerdictCache } from './verdict-cache.ts';
import { denied, type Verdict } from './verdict.ts';
import { nextStaleAt } from './verification-context.ts';
import type { VerifierMetrics } from './verifier-metrics.ts';
import type { VerifyPool } from './verify-pool.ts';

export type Transport = 'http' | 'batch' | 'mqtt';

export interface VerifyRequest {
  readonly qr: string;
  /** Where the verdict is judged and recorded: the requester's registered venue (requester.ts), never the body's. */
  readonly venue?: string | undefined;
  /** Open mode only: the venue the request names, judged by its policy but recorded for no venue. */
  readonly policyVenue?: string | undefined;
  readonly scanner?: string | undefined;
  /**
   * Who asked, as the transport authenticated it: a scanner id, or `venue-token:<name>`. Absent in
   * the open development mode (nothing to count a rate against).
   */
  readonly credential?: string | undefined;
  readonly transport: Transport;
}

export interface VerificationEngineOptions extends JudgeOptions {
  readonly cacheTtlMs: number;
  readonly pseudonymKey?: string | undefined;
}

export interface VerificationEngineDeps {
  readonly reference: ReferenceStore;
  /** Absent: the CPU half runs on this thread with `decoder`. */
  readonly pool?: VerifyPool | undefined;
  readonly decoder: CodeDecoder;
  readonly cache: VerdictCache;
  readonly audit?: AuditWriter | undefined;
  readonly metrics: VerifierMetrics;
  readonly now: () => number;
  /** Rates per credential; absent: no limit. */
  readonly throttle?: CredentialThrottle | undefined;
  /** Where a throttled credential's flag goes (once per flag window); absent: metrics and a log line only. */
  readonly flags?: Pick<CredentialFlags, 'record'> | undefined;
  readonly logger?: { warn(obj: object, msg: string): void } | undefined;
}

export interface VerificationEngine {
  verify(request: VerifyRequest): Promise<Verdict>;
}

/** Verdicts that say nothing lasting about the code, or that change with the clock alone: never cached. */
const UNCACHEABLE: ReadonlySet<Reason> = new Set(['OVERLOADED', 'INTERNAL_ERROR', 'NOT_YET_VALID']);

/**
 * One verification request from end to end: the context of now (kept to the end, whatever swaps
 * meanwhile), the cache, the CPU half (pool or inline), the judgement, metrics and the audit event.
 */
export function createVerificationEngine(options: VerificationEngineOptions, deps: VerificationEngineDeps): VerificationEngine {
  const { reference, pool, decoder, cache, audit, metrics, now, throttle } = deps;

  /**
   * A credential over its rate gets deny THROTTLED before anything else: not verified, not cached,
   * not in the audit (a stolen credential cannot move a venue's statistics), only counted and flagged.
   */
  function throttled(request: VerifyRequest, credential: string, limit: CredentialThrottle, retryAfterMs: number, flag: boolean): Verdict {
    metrics.throttled.inc({ transport: request.transport });
    if (flag) {
      deps.logger?.warn({ credential, transport: request.transport }, 'credential throttled: more checks than a door can see');
      deps.flags?.record({ at: now(), credential, scanner: request.scanner ?? '', venue: request.venue ?? '', transport: request.transport });
    }
    return { ...denied('THROTTLED', null, `over ${limit.checksPerSecond} checks per second (burst ${limit.burst}) from this credential`), retryAfterMs };
  }

  function until(auth: Authentication, at: number, staleAt: number): number {
    let bound = Math.min(at + options.cacheTtlMs, staleAt);
    if (auth.ok) bound = Math.min(bound, auth.expiresAt + options.clockSkewMs + 1);
    return bound;
  }

  function finish(request: VerifyRequest, verdict: Verdict, pseudonym: string, at: number, started: number, cached: boolean): Verdict {
    metrics.verdictCounts.add({ verdict: verdict.verdict, reason: verdict.reason, kind: verdict.kind ?? 'unknown', transport: request.transport });
    metrics.verifySeconds.observe({ transport: request.transport, cache: cached ? 'hit' : 'miss' }, (performance.now() - started) / 1000);
    audit?.record({
      at,
      venue: request.venue ?? '',
      kind: verdict.kind ?? '',
      verdict: verdict.verdict,
      reason: verdict.reason,
      issuer: verdict.issuer ?? '',
      pseudonym,
      scanner: request.scanner ?? '',
      transport: request.transport,
      offline: false,
      stale: verdict.stale === true,
    });
    return verdict;
  }

  return {
    async verify(request) {
      if (throttle !== undefined && request.credential !== undefined) {
        const decision = throttle.take(request.credential);
        if (!decision.allowed) return throttled(request, request.credential, throttle, decision.retryAfterMs, decision.flag);
      }
      const started = performance.now();
      const context = reference.current();
      const at = now();
      const judgedAt = request.venue ?? request.policyVenue;
      const key = options.cacheTtlMs > 0 ? verdictKey(judgedAt ?? '', request.qr) : undefined;
      if (key !== undefined) {
        const hit = cache.get(key, context.generation, at);
        metrics.cacheLookupCounts.add({ result: hit === undefined ? 'miss' : 'hit' });
        if (hit !== undefined) return finish(request, hit.verdict, hit.pseudonym, at, started, true);
      }
      const auth =
        pool === undefined
          ? authenticateCode(request.qr, context.trust, decoder, options.pseudonymKey)
          : await pool.authenticate(request.qr, context.trust);
      const verdict = judgeCode(auth, context, judgedAt, at, options);
      const pseudonym = auth.pseudonym ?? '';
      // A verdict made with a context that was swapped out meanwhile would never answer: skip it.
      if (key !== undefined && !UNCACHEABLE.has(verdict.reason) && reference.current().generation === context.generation) {
        cache.set(key, { verdict, pseudonym, generation: context.generation, until: until(auth, at, nextStaleAt(context, at)) }, at);
      }
      return finish(request, verdict, pseudonym, at, started, false);
    },
  };
}
