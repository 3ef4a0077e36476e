import { connectAsync, type MqttClient } from 'mqtt';
import { REFERENCE_TOPIC_KINDS, referenceTopics, type ReferenceTopicKind } from '@cityops/protocol';
import type { Logger } from 'pino';
import { verifierErrors } from './errors.ts';
import { parseReferenceSigningKey, sealReference } from './reference-envelope.ts';
import type { ReferenceStore } from './reference-store.ts';
import type { VerificationContext } from './verification-context.ts';

export interface ReferencePublisherConfig {
  readonly url: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** The verifier's MQTT client id; this connection is `{username or clientId}:reference`. */
  readonly clientId: string;
  readonly keepaliveSec: number;
  readonly signingKey: string;
  readonly maxPayloadBytes: number;
}

export interface ReferencePublisherDeps {
  readonly reference: ReferenceStore;
  readonly logger: Logger;
  readonly now: () => number;
  /** Every publication's outcome, for the verifier's metrics. */
  readonly onPublish?: (kind: ReferenceTopicKind, outcome: PublishOutcome) => void;
}

export type PublishOutcome = 'published' | 'too_large' | 'failed';

export interface ReferencePublisher {
  /** Connects (rejects VERIFIER_ERR_MQTT when the broker refuses) and publishes what the store holds. */
  start(): Promise<void>;
  /** Idempotent; waits for the publication in flight. */
  stop(): Promise<void>;
  /** The envelope version last sealed per kind (0: none yet). */
  versions(): Record<ReferenceTopicKind, number>;
}

interface Sealed {
  /** The store's snapshot version it was sealed from. */
  readonly source: number;
  readonly version: number;
  readonly envelope: Buffer;
}

/**
 * Pushes the verifier's trust list and revocation filter to scanners: each change becomes a signed
 * envelope (reference-envelope.ts), published retained with QoS 1 on its reference topic, so a
 * connected scanner has it at once and one that connects later gets the latest from the broker.
 * The envelope of a version is sealed once and sent again as it is after a reconnect (a restarted
 * broker without persistence lost its retained messages). Versions are the publisher's clock in ms,
 * kept strictly growing; verifiers that share scanners run NTP: a copy sealed by a clock far behind
 * is refused as older by the scanners, whose HTTP poll then brings it (never the reverse).
 */
export function createReferencePublisher(config: ReferencePublisherConfig, deps: ReferencePublisherDeps): ReferencePublisher {
  const { reference, logger, now } = deps;
  const signingKey = parseReferenceSigningKey(config.signingKey);
  const sealed = new Map<ReferenceTopicKind, Sealed>();
  let lastVersion = 0;
  let client: MqttClient | undefined;
  let chain: Promise<void> = Promise.resolve();
  let state: 'new' | 'running' | 'stopped' = 'new';

  /** The body and store version a kind has now, or undefined when the verifier has none to push. */
  function contentOf(kind: ReferenceTopicKind, context: VerificationContext): { source: number; body: () => Buffer; freshAt: number } | undefined {
    if (kind === 'trust') {
      const text = reference.trustSource();
      return text === undefined ? undefined : { source: context.trust.version, body: () => text, freshAt: context.freshness.trust?.freshAt ?? now() };
    }
    const freshness = context.freshness.revocation;
    if (freshness === undefined) return undefined;
    return { source: context.revocation.version, body: () => context.revocation.filter().toBytes(), freshAt: freshness.freshAt };
  }

  function seal(kind: ReferenceTopicKind, context: VerificationContext): Sealed | undefined {
    const content = contentOf(kind, context);
    if (content === undefined) return undefined;
    const held = sealed.get(kind);
    if (held !== undefined && held.source === content.source) return held;
    lastVersion = Math.max(now(), lastVersion + 1);
    const envelope = sealReference({ kind, version: lastVersion, freshAt: Math.max(0, Math.floor(content.freshAt)) }, content.body(), signingKey);
    const next = { source: content.source, version: lastVersion, envelope };
    sealed.set(kind, next);
    return next;
  }

  function publish(kind: ReferenceTopicKind, item: Sealed): Promise<void> {
    const c = client;
    // Not connected: the next connect publishes the latest envelope of every kind.
    if (c === undefined || !c.connected || state !== 'running') return Promise.resolve();
    if (item.envelope.length > config.maxPayloadBytes) {
      deps.onPublish?.(kind, 'too_large');
      logger.error(
        { err: verifierErrors.VERIFIER_ERR_REFERENCE_PUSH(`${kind} envelope of ${item.envelope.length} bytes is over referencePush.maxPayloadBytes (${config.maxPayloadBytes})`), kind },
        'reference data not pushed; scanners get it by their HTTP poll',
      );
      return Promise.resolve();
    }
    return c.publishAsync(referenceTopics[kind], item.envelope, { qos: 1, retain: true }).then(
      () => {
        deps.onPublish?.(kind, 'published');
        logger.info({ kind, version: item.version, bytes: item.envelope.length }, 'reference data pushed to scanners');
      },
      (err: unknown) => {
        deps.onPublish?.(kind, 'failed');
        logger.warn({ err: verifierErrors.VERIFIER_ERR_REFERENCE_PUSH(kind, err), kind }, 'reference push failed; it is sent again after the next reconnect');
      },
    );
  }

  /** One publication at a time, in the order of the changes. */
  function publishCurrent(force: boolean): void {
    const context = reference.current();
    for (const kind of REFERENCE_TOPIC_KINDS) {
      const before = sealed.get(kind);
      const item = seal(kind, context);
      if (item === undefined || (!force && item === before)) continue;
      chain = chain.then(() => publish(kind, item));
    }
  }

  return {
    versions: () => ({ trust: sealed.get('trust')?.version ?? 0, revocation: sealed.get('revocation')?.version ?? 0 }),
    async start() {
      if (state !== 'new') return;
      state = 'running';
      const username = config.username ?? config.clientId;
      let c: MqttClient;
      try {
        c = await connectAsync(
          config.url,
          {
            // The broker takes `{username}:{suffix}` as a second connection of the same device.
            clientId: `${username}:reference`,
            username,
            ...(config.password === undefined ? {} : { password: config.password }),
            protocolVersion: 4,
            clean: true,
            reconnectPeriod: 1000,
            keepalive: config.keepaliveSec,
          },
          false,
        );
      } catch (err) {
        state = 'stopped';
        throw verifierErrors.VERIFIER_ERR_MQTT(`reference push to ${config.url}: ${(err as Error).message}`, err);
      }
      client = c;
      c.on('error', (err) => logger.warn({ err: verifierErrors.VERIFIER_ERR_REFERENCE_PUSH(err.message, err) }, 'reference push connection error'));
      // Every reconnect: the broker may have restarted without its retained messages.
      c.on('connect', () => publishCurrent(true));
      reference.onChange(() => {
        if (state === 'running') publishCurrent(false);
      });
      publishCurrent(true);
      await chain;
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      await chain;
      const c = client;
      client = undefined;
      await c?.endAsync();
    },
  };
}
