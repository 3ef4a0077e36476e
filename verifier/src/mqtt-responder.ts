import type { FromSchema } from 'json-schema-to-ts';
import { connectAsync, type MqttClient } from 'mqtt';
import { compileSchemaCheck, createLogThrottle, DEVICE_ID_PATTERN, parseTopic, topics, type ParsedTopic } from '@cityops/protocol';
import type { Logger } from 'pino';
import type { AuditEvent } from './audit-writer.ts';
import type { CredentialFlags } from './credential-flags.ts';
import { verifierErrors } from './errors.ts';
import type { OfflineEventBudget } from './offline-event-budget.ts';
import type { OfflineEventStore } from './offline-event-store.ts';
import { createOfflineUploadReader } from './offline-events.ts';
import { attribute, type Requester, type RequesterDirectory } from './requester.ts';
import { createVerifierGroup } from './verifier-group.ts';
import type { VerificationEngine } from './verification-engine.ts';
import type { VerifierMetrics } from './verifier-metrics.ts';
import { VENUE_ID_PATTERN } from './venue-policies.ts';
import type { Verdict } from './verdict.ts';

export interface MqttResponderConfig {
  readonly url: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly clientId: string;
  readonly qos: 0 | 1;
  /** Requests being verified at once; beyond, a request is answered deny OVERLOADED at once. */
  readonly maxInFlight: number;
  readonly maxQrChars: number;
  readonly pseudonymKey?: string | undefined;
  /** Verifiers of one group share the scanners; each announces itself on its status topic. */
  readonly group: string;
  /** False: this verifier answers every scanner (and the group does not count it). */
  readonly partition: boolean;
  /** The broker publishes the will 1.5 keepalives after the verifier went silent (MQTT 3.1.1 §3.1.2.10). */
  readonly keepaliveSec: number;
  /** Upper bound on waiting, at stop, for the broker to echo the offline status. */
  readonly leaveTimeoutMs: number;
}

export interface MqttResponder {
  start(): Promise<void>;
  stop(): Promise<void>;
  connected(): boolean;
  /** The live verifiers sharing the scanners, this one included. */
  members(): string[];
  readonly verifierId: string;
}

/** The request payload on cityops/v1/verify-req/{scanner}. */
export function verifyRequestSchema(maxQrChars: number) {
  return {
    type: 'object',
    required: ['id', 'qr'],
    properties: {
      id: { anyOf: [{ type: 'string', minLength: 1, maxLength: 128 }, { type: 'integer' }] },
      qr: { type: 'string', minLength: 1, maxLength: maxQrChars * 2 },
      venue: { type: 'string', pattern: VENUE_ID_PATTERN.source },
    },
  } as const;
}

/**
 * What the verifier subscribes to: every scanner's requests and offline uploads, and every status
 * (aedes 1.2 has no shared subscriptions, `$share/`, moscajs/aedes#228: the verifiers split the
 * scanners among themselves instead).
 */
/** A refused scanner is logged at most once per this many ms (counted every time). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

const SUBSCRIPTIONS = [topics.allOf('status'), topics.allOf('verify-req'), topics.allOf('verify-events')];

/**
 * Scanners' request/response over MQTT 3.1.1: the verifier is an MQTT client of the broker (the
 * ingest broker with service credentials, or any broker), subscribed to every scanner's request
 * topic; it answers on the scanner's response topic with the request's id and the verdict.
 * A request without a readable id cannot be answered: it is counted and dropped. Offline uploads
 * (offline-events.ts) go to the audit trail, flagged offline, exactly once (offline-event-store.ts),
 * and are answered once stored.
 *
 * Several verifiers on one broker (verifier-group.ts): each publishes a retained status on
 * `cityops/v1/status/{verifierId}` (its will says offline), keeps the live set of its group from
 * the others' statuses, and takes only the requests and uploads of scanners that rendezvous-hash to
 * itself. When one leaves, the others take its scanners when its status (or will) reaches them.
 * Around a change two verifiers may both answer a request for a moment: the scanner correlates by
 * id and ignores the second answer. None answers only while a dead verifier's will is not yet out;
 * the scanner then times out and verifies offline, its designed fallback.
 */
export function createMqttResponder(
  config: MqttResponderConfig,
  deps: {
    readonly engine: VerificationEngine;
    /** Who the scanner of a topic is, and its registered venue (issue 16). */
    readonly requesters: RequesterDirectory;
    /** Where offline uploads are stored; absent (no warehouse): they are acknowledged unstored. */
    readonly offlineStore?: OfflineEventStore | undefined;
    /** What a door can have checked offline (rates); absent: uploads are not limited. */
    readonly offlineBudget?: OfflineEventBudget | undefined;
    /** Where a credential over its offline budget is flagged (as a throttled one). */
    readonly flags?: Pick<CredentialFlags, 'record'> | undefined;
    readonly metrics: VerifierMetrics;
    readonly logger: Logger;
    readonly now: () => number;
  },
): MqttResponder {
  const { engine, requesters, offlineStore, offlineBudget, metrics, logger, now } = deps;
  // Behind the ingest broker a service may publish a status only under its own id, its username.
  const verifierId = config.username ?? config.clientId;
  if (!DEVICE_ID_PATTERN.test(verifierId)) {
    throw verifierErrors.VERIFIER_ERR_CONFIG(`/mqtt: the verifier id ${JSON.stringify(verifierId)} (username, else clientId) must match ${DEVICE_ID_PATTERN.source}`);
  }
  const statusTopic = topics.status(verifierId);
  const group = createVerifierGroup({ verifierId, group: config.group, partition: config.partition });
  const check = compileSchemaCheck(verifyRequestSchema(config.maxQrChars));
  const readUpload = createOfflineUploadReader(config.pseudonymKey);
  // Refusals of who asks are counted each, logged once per scanner per interval.
  const logRefusal = createLogThrottle({ intervalMs: REFUSAL_LOG_INTERVAL_MS, maxKeys: 10_000, now });
  let client: MqttClient | undefined;
  let inFlight = 0;
  let stopped: Promise<void> | undefined;
  let leaving = false;
  let leftSeen: (() => void) | undefined;
  let drained: (() => void) | undefined;
  metrics.groupMembers.set(1);

  const statusText = (online: boolean, reason?: string) => JSON.stringify(group.status(online, Math.floor(now()), reason));

  function announce(): void {
    client?.publish(statusTopic, statusText(true), { qos: 1, retain: true }, (err) => {
      if (err != null && !leaving) logger.warn({ err }, 'verifier status could not be published');
    });
  }

  function onStatus(device: string, payload: Buffer): void {
    if (device === verifierId) {
      const online = payload.length > 0 && (JSON.parse(payload.toString('utf8')) as { online?: unknown }).online === true;
      if (leaving && !online) leftSeen?.();
      // A will of an earlier connection (or incarnation) that arrived after our announcement.
      if (!leaving && !online) announce();
      return;
    }
    if (group.onStatus(device, payload)) {
      const members = group.members();
      metrics.groupMembers.set(members.length);
      metrics.groupChanges.inc();
      logger.info({ members }, 'verifier group changed');
    }
  }

  type Receipt = { accepted: number; refused: number; duplicates: number; deferred?: true; code?: string };
  type Refusal = { code: string; message: string };
  function reply(scanner: string, id: unknown, body: Verdict | Receipt | Refusal): void {
    client?.publish(topics.verifyResponse(scanner), JSON.stringify({ id, ...body }), { qos: config.qos }, (err) => {
      if (err !== undefined && err !== null && stopped === undefined) logger.warn({ err, scanner }, 'verdict could not be published');
    });
  }

  /** A scanner unknown to the registry (or any refusal of who asks): counted, logged, answered with its code. */
  function refuse(scanner: string, id: unknown, err: unknown): void {
    const code = (err as { code?: string }).code ?? 'VERIFIER_ERR_INTERNAL';
    metrics.mqttRequests.inc({ outcome: 'refused' });
    metrics.requestsRefused.inc({ transport: 'mqtt', code });
    if (logRefusal(scanner)) logger.warn({ scanner, code }, 'MQTT request refused (logged once per scanner per 10 s)');
    if (typeof id === 'string' || typeof id === 'number') reply(scanner, id, { code, message: (err as Error).message.slice(0, 300) });
  }

  /**
   * The events a door can have checked (offline-event-budget.ts); the rest refused, counted as
   * THROTTLED, and the credential flagged once per window as a throttled one is.
   */
  function withinBudget(requester: Requester, events: AuditEvent[]): { audit: AuditEvent[]; overBudget: number } {
    const credential = requester.credential;
    if (offlineBudget === undefined || credential === undefined) return { audit: events, overBudget: 0 };
    const audit = events.filter((e) => offlineBudget.admit(credential, e.at));
    const overBudget = events.length - audit.length;
    if (overBudget > 0) {
      metrics.throttled.inc({ transport: 'offline' }, overBudget);
      if (offlineBudget.flag(credential, now())) {
        logger.warn({ credential, events: overBudget }, 'offline upload over what a door can check: events refused, credential flagged');
        deps.flags?.record({ at: now(), credential, scanner: requester.scanner ?? '', venue: requester.venue ?? '', transport: 'offline' });
      }
    }
    return { audit, overBudget };
  }

  function onUpload(scanner: string, requester: Requester | Error, body: unknown): void {
    if (requester instanceof Error) {
      // An offline upload is a scanner's own record: without a registered scanner it counts nowhere.
      // Answered as a receipt (all refused), so that the scanner stops sending it.
      const events = (body as { events?: unknown } | null)?.events;
      const refused = Array.isArray(events) ? events.length : 0;
      const code = (requester as { code?: string }).code ?? 'VERIFIER_ERR_UNKNOWN_SCANNER';
      metrics.mqttRequests.inc({ outcome: 'refused' });
      metrics.requestsRefused.inc({ transport: 'offline', code });
      metrics.offlineEvents.inc({ outcome: 'refused' }, refused);
      if (logRefusal(scanner)) logger.warn({ scanner, code, events: refused }, 'offline upload of an unregistered scanner refused');
      const id = (body as { id?: unknown } | null)?.id;
      if (typeof id === 'string' || typeof id === 'number') reply(scanner, id, { accepted: 0, refused, duplicates: 0, code });
      return;
    }
    const upload = readUpload(scanner, requester, body);
    if (typeof upload === 'string') {
      metrics.mqttRequests.inc({ outcome: 'dropped' });
      logger.warn({ scanner, problems: upload }, 'offline upload refused');
      return;
    }
    metrics.mqttRequests.inc({ outcome: 'offline_upload' });
    const { audit, overBudget } = withinBudget(requester, upload.audit);
    const refused = upload.refused + overBudget;
    metrics.offlineEvents.inc({ outcome: 'refused' }, refused);
    if (upload.otherVenue > 0) {
      metrics.requestsRefused.inc({ transport: 'offline', code: 'VERIFIER_ERR_VENUE_MISMATCH' }, upload.otherVenue);
      if (logRefusal(scanner)) {
        logger.warn({ scanner, venue: requester.venue, events: upload.otherVenue, code: 'VERIFIER_ERR_VENUE_MISMATCH' }, 'offline events naming another venue refused');
      }
    }
    if (offlineStore === undefined) {
      if (upload.id !== undefined) reply(scanner, upload.id, { accepted: audit.length, refused, duplicates: 0 });
      return;
    }
    inFlight++;
    offlineStore
      // Resends are recognised per recorded scanner (open mode's anonymous: '', ids carry a boot id).
      .store(requester.scanner ?? '', audit)
      .then(
        ({ stored, duplicates }) => {
          if (upload.id !== undefined) reply(scanner, upload.id, { accepted: stored + duplicates, refused, duplicates });
        },
        (err: unknown) => {
          // The scanner keeps them and sends them again: nothing is lost, and the ids keep it once.
          metrics.offlineEvents.inc({ outcome: 'failed' }, audit.length);
          logger.error({ err, scanner }, 'offline upload not stored');
          if (upload.id !== undefined) reply(scanner, upload.id, { accepted: 0, refused: 0, duplicates: 0, deferred: true });
        },
      )
      .finally(settle);
  }

  function settle(): void {
    inFlight--;
    if (inFlight === 0) drained?.();
  }

  function onMessage(topic: string, payload: Buffer): void {
    let parsed: ParsedTopic;
    let body: unknown;
    try {
      parsed = parseTopic(topic);
    } catch {
      metrics.mqttRequests.inc({ outcome: 'dropped' });
      return;
    }
    if (parsed.channel === 'status') {
      try {
        onStatus(parsed.device, payload);
      } catch (err) {
        logger.debug({ err, device: parsed.device }, 'unreadable status');
      }
      return;
    }
    if (parsed.channel !== 'verify-req' && parsed.channel !== 'verify-events') return;
    const scanner = parsed.device;
    // Before parsing the payload: every verifier receives every request, one answers it.
    if (!group.owns(scanner)) {
      metrics.mqttRequests.inc({ outcome: 'other_verifier' });
      return;
    }
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      metrics.mqttRequests.inc({ outcome: 'dropped' });
      return;
    }
    if (parsed.channel === 'verify-events') {
      void requesters.fromTopic(scanner).then(
        (requester) => onUpload(scanner, requester, body),
        (err: Error) => onUpload(scanner, err, body),
      );
      return;
    }
    const id = (body as { id?: unknown } | null)?.id;
    const problems = check(body);
    if (problems.length > 0) {
      if (typeof id !== 'string' && typeof id !== 'number') {
        metrics.mqttRequests.inc({ outcome: 'dropped' });
        return;
      }
      metrics.mqttRequests.inc({ outcome: 'malformed' });
      reply(scanner, id, { verdict: 'deny', reason: 'MALFORMED_REQUEST', kind: null, detail: problems.join('; ').slice(0, 300) });
      return;
    }
    const request = body as FromSchema<ReturnType<typeof verifyRequestSchema>>;
    if (inFlight >= config.maxInFlight) {
      metrics.mqttRequests.inc({ outcome: 'overloaded' });
      metrics.overloaded.inc();
      reply(scanner, request.id, { verdict: 'deny', reason: 'OVERLOADED', kind: null });
      return;
    }
    inFlight++;
    requesters
      .fromTopic(scanner)
      .then(
        (requester) => {
          let who;
          try {
            who = attribute(requester, request.venue);
          } catch (err) {
            refuse(scanner, request.id, err);
            return undefined;
          }
          return engine.verify({ qr: request.qr, ...who, transport: 'mqtt' }).then(
            (verdict) => {
              metrics.mqttRequests.inc({ outcome: 'answered' });
              reply(scanner, request.id, verdict);
            },
            (err: unknown) => {
              logger.error({ err, scanner }, 'verification failed');
              reply(scanner, request.id, { verdict: 'deny', reason: 'INTERNAL_ERROR', kind: null });
            },
          );
        },
        (err: unknown) => refuse(scanner, request.id, err),
      )
      .finally(settle);
  }

  return {
    verifierId,
    connected: () => client?.connected === true,
    members: () => group.members(),
    async start() {
      // The first connection must succeed (start fails fast on a wrong URL or credentials); later
      // outages are reconnected every second.
      try {
        client = await connectAsync(
          config.url,
          {
            clientId: config.clientId,
            protocolVersion: 4,
            clean: true,
            reconnectPeriod: 1000,
            keepalive: config.keepaliveSec,
            // MQTT 3.1.1 §3.1.2.5: a verifier that vanishes is announced offline by the broker.
            will: { topic: statusTopic, payload: Buffer.from(statusText(false, 'connection-lost')), qos: 1, retain: true },
            ...(config.username === undefined ? {} : { username: config.username }),
            ...(config.password === undefined ? {} : { password: config.password }),
          },
          false,
        );
      } catch (err) {
        throw verifierErrors.VERIFIER_ERR_MQTT(`${config.url}: ${(err as Error).message}`, err);
      }
      // Small request/response packets must not wait for Nagle's algorithm (~40 ms per hop otherwise).
      const noDelay = (c: MqttClient) => (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      noDelay(client);
      client.on('connect', () => client !== undefined && noDelay(client));
      client.on('message', onMessage);
      client.on('error', (err) => logger.warn({ err }, 'MQTT client error'));
      // A clean session forgets subscriptions: subscribe again after each reconnect, then announce
      // ourselves again (the will of the lost connection said offline).
      client.on('connect', () => {
        client?.subscribe(SUBSCRIPTIONS, { qos: config.qos }, (err) => {
          if (err != null) logger.error({ err }, 'cannot subscribe to verification requests');
          else announce();
        });
      });
      const granted = await client.subscribeAsync(SUBSCRIPTIONS, { qos: config.qos });
      const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) throw verifierErrors.VERIFIER_ERR_MQTT(`the broker refused the subscription to ${refused.join(', ')}`);
      // Subscribed to the statuses first: the others' retained statuses come, then ours goes out.
      await client.publishAsync(statusTopic, statusText(true), { qos: 1, retain: true });
    },
    /**
     * Leaves the group (a retained offline status), keeps answering its scanners until the broker
     * echoes that status (the others have it about then), stops taking requests, answers those in
     * flight, then disconnects.
     */
    stop() {
      stopped ??= (async () => {
        const c = client;
        if (c === undefined) return;
        leaving = true;
        if (c.connected) {
          let timer: NodeJS.Timeout | undefined;
          const seen = new Promise<void>((resolve) => {
            leftSeen = resolve;
            timer = setTimeout(resolve, config.leaveTimeoutMs);
          });
          await c.publishAsync(statusTopic, statusText(false, 'stopped'), { qos: 1, retain: true }).catch(() => undefined);
          await seen;
          clearTimeout(timer);
        }
        c.off('message', onMessage);
        if (c.connected) await c.unsubscribeAsync(SUBSCRIPTIONS).catch(() => undefined);
        if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
        client = undefined;
        await c.endAsync();
      })();
      return stopped;
    },
  };
}
