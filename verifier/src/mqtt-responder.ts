import type { FromSchema } from 'json-schema-to-ts';
import { connectAsync, type MqttClient } from 'mqtt';
import { compileSchemaCheck, parseTopic, topics, type ParsedTopic } from '@cityops/protocol';
import type { Logger } from 'pino';
import type { AuditWriter } from './audit-writer.ts';
import { verifierErrors } from './errors.ts';
import { createOfflineUploadReader } from './offline-events.ts';
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
}

export interface MqttResponder {
  start(): Promise<void>;
  stop(): Promise<void>;
  connected(): boolean;
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

/** What the verifier subscribes to: every scanner's requests and offline uploads. */
const SUBSCRIPTIONS = [topics.allOf('verify-req'), topics.allOf('verify-events')];

/**
 * Scanners' request/response over MQTT 3.1.1: the verifier is an MQTT client of the broker (the
 * ingest broker with service credentials, or any broker), subscribed to every scanner's request
 * topic; it answers on the scanner's response topic with the request's id and the verdict.
 * A request without a readable id cannot be answered: it is counted and dropped. Offline uploads
 * (offline-events.ts) go to the audit trail, flagged offline.
 */
export function createMqttResponder(
  config: MqttResponderConfig,
  deps: {
    readonly engine: VerificationEngine;
    readonly audit?: AuditWriter | undefined;
    readonly metrics: VerifierMetrics;
    readonly logger: Logger;
  },
): MqttResponder {
  const { engine, audit, metrics, logger } = deps;
  const check = compileSchemaCheck(verifyRequestSchema(config.maxQrChars));
  const readUpload = createOfflineUploadReader(config.pseudonymKey);
  let client: MqttClient | undefined;
  let inFlight = 0;
  let stopped: Promise<void> | undefined;
  let drained: (() => void) | undefined;

  function reply(scanner: string, id: unknown, body: Verdict | { accepted: number; refused: number }): void {
    client?.publish(topics.verifyResponse(scanner), JSON.stringify({ id, ...body }), { qos: config.qos }, (err) => {
      if (err !== undefined && err !== null && stopped === undefined) logger.warn({ err, scanner }, 'verdict could not be published');
    });
  }

  function onUpload(scanner: string, body: unknown): void {
    const upload = readUpload(scanner, body);
    if (typeof upload === 'string') {
      metrics.mqttRequests.inc({ outcome: 'dropped' });
      logger.warn({ scanner, problems: upload }, 'offline upload refused');
      return;
    }
    metrics.mqttRequests.inc({ outcome: 'offline_upload' });
    for (const event of upload.audit) audit?.record(event);
    if (upload.id !== undefined) reply(scanner, upload.id, { accepted: upload.audit.length, refused: upload.refused });
  }

  function onMessage(topic: string, payload: Buffer): void {
    let parsed: ParsedTopic;
    let body: unknown;
    try {
      parsed = parseTopic(topic);
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      metrics.mqttRequests.inc({ outcome: 'dropped' });
      return;
    }
    const scanner = parsed.device;
    if (parsed.channel === 'verify-events') return onUpload(scanner, body);
    if (parsed.channel !== 'verify-req') return;
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
    engine
      .verify({ qr: request.qr, venue: request.venue, scanner, transport: 'mqtt' })
      .then(
        (verdict) => {
          metrics.mqttRequests.inc({ outcome: 'answered' });
          reply(scanner, request.id, verdict);
        },
        (err: unknown) => {
          logger.error({ err, scanner }, 'verification failed');
          reply(scanner, request.id, { verdict: 'deny', reason: 'INTERNAL_ERROR', kind: null });
        },
      )
      .finally(() => {
        inFlight--;
        if (inFlight === 0) drained?.();
      });
  }

  return {
    connected: () => client?.connected === true,
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
      // A clean session forgets subscriptions: subscribe again after each reconnect.
      client.on('connect', () => {
        client?.subscribe(SUBSCRIPTIONS, { qos: config.qos }, (err) => {
          if (err != null) logger.error({ err }, 'cannot subscribe to verification requests');
        });
      });
      const granted = await client.subscribeAsync(SUBSCRIPTIONS, { qos: config.qos });
      const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) throw verifierErrors.VERIFIER_ERR_MQTT(`the broker refused the subscription to ${refused.join(', ')}`);
    },
    /** Stops taking requests, answers those in flight, then disconnects. */
    stop() {
      stopped ??= (async () => {
        const c = client;
        if (c === undefined) return;
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
