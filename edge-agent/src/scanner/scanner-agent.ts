import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { isCityopsError, topics, type CityopsError } from '@cityops/protocol';
import { REASON_CODES, type Reason, type Verdict } from '@cityops/verifier';
import type { IClientOptions, MqttClient } from 'mqtt';
import { pino } from 'pino';
import { systemTimers, type AgentDeps } from '../agent-deps.ts';
import { createEventSpool, type EventSpoolStats, type SpoolDropReason } from './event-spool.ts';
import { createEventUploader, type UploadCounts, type UploadReceipt } from './event-uploader.ts';
import { createOfflineVerifier } from './offline-verifier.ts';
import { createPendingAnswers } from './pending-answers.ts';
import { createReferencePush, type ReferencePushStats } from './reference-push.ts';
import { createReferenceCache, type ReferenceKind, type ReferenceSourceState, type RefreshOutcome } from './reference-cache.ts';
import { parseScannerAgentConfig, type ScannerAgentConfig, type ScannerAgentConfigInput } from './scanner-config.ts';
import { scannerErrors } from './scanner-errors.ts';
import { createScannerLink } from './scanner-link.ts';

/** A verdict as the door shows it: the verifier's, or one given offline (`offline: true`). */
export type ScanResult = Verdict & { readonly offline: boolean };

/** One code to check, and where: the scanner's own venue (or none); another is refused (SCANNER_ERR_VENUE_MISMATCH). */
export interface ScanInput {
  readonly qr: string;
  readonly venue?: string | undefined;
}

/**
 * Why a verdict was given offline: no connection or the verifier silent (`unreachable`), this
 * request unanswered in time (`timeout`), too many requests awaiting answers (`busy`), or the
 * verifier answered that it could not check (`overloaded`: OVERLOADED, INTERNAL_ERROR, or THROTTLED:
 * this scanner's credential over its rate, e.g. while someone floods with a copy of it).
 */
export type OfflineCause = 'unreachable' | 'timeout' | 'busy' | 'overloaded';

export interface ScannerAgentDeps extends AgentDeps {
  readonly connect?: (url: string, options: IClientOptions) => MqttClient;
  /** For reference feeds over HTTP. */
  readonly fetch?: typeof fetch;
}

export interface ScannerAgentEvents {
  verdict: [result: ScanResult];
  /** The verifier answers again: verdicts come from it, the spooled events go up. */
  online: [];
  offline: [cause: OfflineCause];
  uploaded: [upload: { events: number; accepted: number; refused: number }];
  dropped: [drop: { why: SpoolDropReason; events: number }];
  reference: [kind: ReferenceKind, outcome: RefreshOutcome];
}

export interface ScannerAgentStats {
  scannerId: string;
  online: boolean;
  connected: boolean;
  scans: number;
  onlineVerdicts: number;
  offlineVerdicts: number;
  offlineByCause: Record<OfflineCause, number>;
  byReason: Partial<Record<Reason, number>>;
  requestsInFlight: number;
  /** Answers that matched no waiting request (late, after a timeout) or could not be read. */
  unmatchedAnswers: number;
  /** Counted as the events leave the spool: `eventsAccepted` + `eventsRefused` is never behind `spool.acknowledged`. */
  uploads: UploadCounts;
  connections: number;
  reconnects: number;
  spool: EventSpoolStats;
  reference: Partial<Record<ReferenceKind, ReferenceSourceState>>;
  referencePush?: ReferencePushStats | undefined;
}

export interface ScannerAgent {
  /** Opens the spool, loads the cached reference data (and refreshes it), connects. */
  start(): Promise<void>;
  /** Idempotent: requests in flight are answered offline, then MQTT, reference polling and the spool stop. */
  stop(): Promise<void>;
  /**
   * A verdict for one code: from the verifier when it answers in time, else offline. Rejects
   * SCANNER_ERR_VENUE_MISMATCH when `venue` is not the scanner's own (issue 16: the verifier records
   * a scanner's checks at its registered venue only), SCANNER_ERR_REFUSED when the verifier refuses
   * the scanner itself (unregistered, or registered elsewhere than `config.venue`).
   */
  scan(qr: string, venue?: string): Promise<ScanResult>;
  /**
   * Scans every input of a source in order until it ends or the agent stops. An input refused
   * (SCANNER_ERR_VENUE_MISMATCH, SCANNER_ERR_REFUSED) gets no verdict: `onSkipped`, and on to the next.
   */
  consume(
    source: AsyncIterable<ScanInput>,
    onResult?: (result: ScanResult, input: ScanInput) => void,
    onSkipped?: (err: CityopsError, input: ScanInput) => void,
  ): Promise<void>;
  /** Reads the reference sources now (rejects when one fails; the cached copy stays). */
  refreshReference(kind?: ReferenceKind): Promise<void>;
  stats(): ScannerAgentStats;
  readonly config: ScannerAgentConfig;
  on<K extends keyof ScannerAgentEvents>(event: K, listener: (...args: ScannerAgentEvents[K]) => void): void;
  once<K extends keyof ScannerAgentEvents>(event: K, listener: (...args: ScannerAgentEvents[K]) => void): void;
  off<K extends keyof ScannerAgentEvents>(event: K, listener: (...args: ScannerAgentEvents[K]) => void): void;
}

const REASONS: ReadonlySet<string> = new Set(REASON_CODES);

/** A verify-res payload: the request's id and the verdict, or the receipt of an upload. */
function readAnswer(payload: Buffer): { id: string; body: Record<string, unknown> } | undefined {
  try {
    const body = JSON.parse(payload.toString('utf8')) as Record<string, unknown> | null;
    if (body === null || typeof body !== 'object' || typeof body.id !== 'string') return undefined;
    return { id: body.id, body };
  } catch {
    return undefined;
  }
}

/** The verifier's refusal of the request itself (requester.ts): not a verdict on the code. */
interface Refusal {
  readonly refused: string;
  readonly message: string;
}

function asRefusal(body: Record<string, unknown>): Refusal | undefined {
  if (typeof body.code !== 'string' || !/^VERIFIER_ERR_[A-Z_]{1,60}$/.test(body.code) || body.verdict !== undefined || body.accepted !== undefined) return undefined;
  return { refused: body.code, message: typeof body.message === 'string' ? body.message.slice(0, 300) : '' };
}

function asVerdict(body: Record<string, unknown>): Verdict | undefined {
  if ((body.verdict !== 'allow' && body.verdict !== 'deny') || typeof body.reason !== 'string' || !REASONS.has(body.reason)) return undefined;
  const { id: _id, ...verdict } = body;
  return verdict as unknown as Verdict;
}

function asReceipt(body: Record<string, unknown>): UploadReceipt | undefined {
  if (typeof body.accepted !== 'number' || typeof body.refused !== 'number') return undefined;
  const duplicates = typeof body.duplicates === 'number' ? body.duplicates : 0;
  return { accepted: body.accepted, refused: body.refused, duplicates, deferred: body.deferred === true };
}

/**
 * The scanner at a venue's door: asks the verifier over MQTT (`verify-req` → `verify-res`, the
 * request's id in the payload), and when the verifier cannot be heard (no connection, no answer in
 * `verify.timeoutMs`, too many waiting, or it says it is overloaded) verifies the code itself with
 * the verifier's core over its cached trust list and revocation filter. Such verdicts say
 * `offline: true`; their events (pseudonymised: the subject's SHA-256, never the code) wait in an
 * on-disk spool and go to the verifier when it answers again, deleted only once it has them.
 *
 * Reachability: after a request times out the scanner is offline and verifies locally at once,
 * without waiting; every `probeIntervalMs` it uploads its oldest events (or none: a probe), and the
 * verifier's answer brings it back online. A lost connection is offline at once.
 */
export function createScannerAgent(input: ScannerAgentConfigInput, deps: ScannerAgentDeps = {}): ScannerAgent {
  const config = parseScannerAgentConfig(input);
  const logger = (deps.logger ?? pino({ name: 'scanner-agent' })).child({ scannerId: config.scannerId });
  const timers = deps.timers ?? systemTimers;
  const now = deps.now ?? Date.now;
  const events = new EventEmitter<ScannerAgentEvents>();
  const prefix = `${randomBytes(4).toString('hex')}-`;
  const requestTopic = topics.verifyRequest(config.scannerId);

  const counters = {
    scans: 0,
    onlineVerdicts: 0,
    offlineVerdicts: 0,
    unmatchedAnswers: 0,
    offlineByCause: { unreachable: 0, timeout: 0, busy: 0, overloaded: 0 } as Record<OfflineCause, number>,
    byReason: {} as Partial<Record<Reason, number>>,
  };
  const requests = createPendingAnswers<Verdict | Refusal>({ prefix: `r${prefix}`, max: config.verify.maxInFlight, timeoutMs: config.verify.timeoutMs }, { timers });
  const uploadAnswers = createPendingAnswers<UploadReceipt>({ prefix: `u${prefix}`, max: 1, timeoutMs: config.spool.uploadTimeoutMs }, { timers });
  const scansInFlight = new Set<Promise<ScanResult>>();
  let state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  // Optimistic until a request goes unanswered: a fresh scanner asks the verifier first.
  let verifierAnswers = true;
  let online = false;
  let draining: Promise<void> | undefined;
  let probeTimer: unknown;

  const spool = createEventSpool(
    { dir: join(config.dataDir, 'spool'), ...config.spool },
    { logger, timers, now, onDrop: (drop) => events.emit('dropped', drop) },
  );
  const reference = createReferenceCache(
    { dir: join(config.dataDir, 'reference'), ...config.reference },
    { now, logger, timers, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }), onRefresh: (kind, outcome) => events.emit('reference', kind, outcome) },
  );
  const local = createOfflineVerifier(config.local, { context: () => reference.current() });
  const { push: pushConfig, revocation: revocationConfig, maxSourceBytes } = config.reference;
  const push = pushConfig && createReferencePush({ ...pushConfig, kinds: revocationConfig ? ['trust', 'revocation'] : ['trust'], maxBytes: maxSourceBytes }, { cache: reference, logger, now });
  const link = createScannerLink(
    { scannerId: config.scannerId, ...config.mqtt, extraTopics: push?.topics },
    {
      logger,
      onMessage: (topic, payload) => push?.onMessage(topic, payload),
      timers,
      random: deps.random ?? Math.random,
      ...(deps.connect === undefined ? {} : { connect: deps.connect }),
      onReady: () => {
        updateOnline();
        // Back on the broker: whatever waits goes up, and the answer tells whether the verifier is there.
        if (state === 'running' && (!verifierAnswers || spool.stats().pending > 0)) void drain();
      },
      onLost: () => {
        requests.cancelAll();
        uploadAnswers.cancelAll();
        updateOnline('unreachable');
      },
      onResponse: (payload) => {
        const answer = readAnswer(payload);
        if (answer !== undefined) {
          const verdict = asVerdict(answer.body) ?? asRefusal(answer.body);
          if (verdict !== undefined && requests.answer(answer.id, verdict)) return;
          const receipt = asReceipt(answer.body);
          if (receipt !== undefined && uploadAnswers.answer(answer.id, receipt)) return;
        }
        counters.unmatchedAnswers++;
      },
    },
  );
  const uploader = createEventUploader(
    { topic: topics.verifyEvents(config.scannerId), batch: config.spool.uploadBatch },
    { spool, link, answers: uploadAnswers },
  );

  function updateOnline(cause?: OfflineCause): void {
    const next = link.ready && verifierAnswers;
    if (next === online) return;
    online = next;
    if (online) {
      logger.info('verifier answers: verifying online');
      events.emit('online');
    } else if (state === 'stopping' || state === 'stopped') {
      // The link closed because we stop: the verifier did not fail us, so no warning.
      logger.info('stopped: no longer verifying online');
      events.emit('offline', cause ?? 'unreachable');
    } else {
      logger.warn({ err: scannerErrors.SCANNER_ERR_VERIFIER_UNREACHABLE(cause) }, 'verifying offline');
      events.emit('offline', cause ?? 'unreachable');
    }
  }

  function verifierSilent(cause: OfflineCause): void {
    verifierAnswers = false;
    // The others waiting would time out too: the door should not wait for each of them.
    requests.cancelAll();
    updateOnline(cause);
  }

  /** Uploads spooled events (or probes) until the spool is empty or the verifier stops answering. */
  function drain(): Promise<void> {
    draining ??= (async () => {
      try {
        do {
          if (state !== 'running') return;
          // The uploader counts the outcome (stats().uploads) as it acknowledges the events.
          const outcome = await uploader.upload();
          if (!outcome.answered) {
            if (link.ready) verifierSilent('unreachable');
            return;
          }
          verifierAnswers = true;
          if (outcome.deferred) {
            // The verifier is there but could not store them: they stay, and go again at the next probe.
            updateOnline();
            return;
          }
          if (outcome.refused > 0) logger.warn({ err: scannerErrors.SCANNER_ERR_UPLOAD_REFUSED(`${outcome.refused} of ${outcome.events}`) }, 'offline events refused');
          if (outcome.events > 0) events.emit('uploaded', { events: outcome.events, accepted: outcome.accepted, refused: outcome.refused });
          updateOnline();
        } while (state === 'running' && link.ready && spool.stats().pending > 0);
      } catch (err) {
        logger.error({ err: scannerErrors.SCANNER_ERR_SPOOL_IO('reading events to upload', err) }, 'upload failed');
      }
    })().finally(() => {
      draining = undefined;
    });
    return draining;
  }

  function count(result: ScanResult, cause?: OfflineCause): ScanResult {
    counters.byReason[result.reason] = (counters.byReason[result.reason] ?? 0) + 1;
    if (result.offline) {
      counters.offlineVerdicts++;
      counters.offlineByCause[cause!]++;
    } else {
      counters.onlineVerdicts++;
    }
    events.emit('verdict', result);
    return result;
  }

  async function offline(qr: string, venue: string | undefined, cause: OfflineCause): Promise<ScanResult> {
    const { verdict, event } = local.verify(qr, venue, now());
    await spool.append(event);
    if (state === 'running' && online && draining === undefined) void drain();
    return count({ ...verdict, offline: true }, cause);
  }

  async function ask(qr: string, venue: string | undefined): Promise<ScanResult> {
    if (!online) return offline(qr, venue, 'unreachable');
    const question = requests.open();
    if (question === undefined) return offline(qr, venue, 'busy');
    link.publish(requestTopic, JSON.stringify({ id: question.id, qr, ...(venue === undefined ? {} : { venue }) }), (err) => {
      if (err !== undefined) requests.cancel(question.id);
    });
    const answer = await question.answer;
    if (!answer.ok) {
      if (answer.why === 'timeout') verifierSilent('timeout');
      return offline(qr, venue, answer.why === 'timeout' ? 'timeout' : 'unreachable');
    }
    if ('refused' in answer.value) {
      // Verifying offline would not help: its event would be refused at upload just the same.
      const err = scannerErrors.SCANNER_ERR_REFUSED(`${answer.value.refused}: ${answer.value.message}`);
      logger.error({ err }, 'the verifier refuses this scanner');
      throw err;
    }
    const verdict = answer.value;
    // "Nothing was checked": the verdict is ours to give.
    if (verdict.reason === 'OVERLOADED' || verdict.reason === 'INTERNAL_ERROR' || verdict.reason === 'THROTTLED') return offline(qr, venue, 'overloaded');
    return count({ ...verdict, offline: false });
  }

  const agent: ScannerAgent = {
    config,
    on: (event, listener) => void events.on(event, listener as never),
    once: (event, listener) => void events.once(event, listener as never),
    off: (event, listener) => void events.off(event, listener as never),

    start() {
      starting ??= (async () => {
        if (state !== 'new') throw scannerErrors.SCANNER_ERR_STOPPED('start after stop');
        state = 'starting';
        await spool.open();
        try {
          await reference.start();
        } catch (err) {
          await spool.close();
          throw err;
        }
        state = 'running';
        link.start();
        probeTimer = timers.setInterval(() => {
          if (state === 'running' && link.ready && (!verifierAnswers || spool.stats().pending > 0)) void drain();
        }, config.verify.probeIntervalMs);
        (probeTimer as { unref?: () => void }).unref?.();
      })();
      return starting;
    },

    stop() {
      stopping ??= (async () => {
        await starting?.catch(() => undefined);
        if (state !== 'running') {
          state = 'stopped';
          return;
        }
        state = 'stopping';
        timers.clearInterval(probeTimer);
        // Requests waiting for the verifier are answered offline now; their events reach the spool.
        requests.cancelAll();
        await Promise.allSettled([...scansInFlight]);
        // An upload waiting for its answer gives up now, and none starts (its events stay on disk).
        uploadAnswers.close();
        await draining;
        await link.stop();
        await reference.stop();
        await spool.close();
        state = 'stopped';
      })();
      return stopping;
    },

    scan(qr, venue = config.venue) {
      if (state !== 'running') return Promise.reject(scannerErrors.SCANNER_ERR_STOPPED(`state ${state}`));
      if (venue !== config.venue) {
        return Promise.reject(scannerErrors.SCANNER_ERR_VENUE_MISMATCH(`${config.venue ?? 'no venue of its own'}; the scan named ${venue?.slice(0, 200) ?? 'none'}`));
      }
      counters.scans++;
      const scan = ask(qr, venue);
      scansInFlight.add(scan);
      const forget = () => void scansInFlight.delete(scan);
      scan.then(forget, forget);
      return scan;
    },

    async consume(source, onResult, onSkipped) {
      for await (const item of source) {
        if (state !== 'running') return;
        let result: ScanResult;
        try {
          result = await agent.scan(item.qr, item.venue ?? config.venue);
        } catch (err) {
          // This input gets no verdict (another venue named, or the verifier refuses the scanner); the next one may.
          if (!isCityopsError(err, 'SCANNER_ERR_VENUE_MISMATCH') && !isCityopsError(err, 'SCANNER_ERR_REFUSED')) throw err;
          logger.warn({ err }, 'scan skipped');
          onSkipped?.(err, item);
          continue;
        }
        onResult?.(result, item);
      }
    },

    refreshReference: (kind) => reference.refresh(kind),

    stats() {
      const linkStats = link.stats();
      return {
        scannerId: config.scannerId,
        online,
        connected: linkStats.ready,
        scans: counters.scans,
        onlineVerdicts: counters.onlineVerdicts,
        offlineVerdicts: counters.offlineVerdicts,
        offlineByCause: { ...counters.offlineByCause },
        byReason: { ...counters.byReason },
        requestsInFlight: requests.size,
        unmatchedAnswers: counters.unmatchedAnswers,
        uploads: uploader.stats(),
        connections: linkStats.connections,
        reconnects: linkStats.reconnects,
        spool: spool.stats(),
        reference: reference.stats(),
        referencePush: push?.stats(),
      };
    },
  };
  return agent;
}
