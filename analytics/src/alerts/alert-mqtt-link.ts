import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { analyticsErrors } from '../errors.ts';
import { connectionRefused, serviceClientOptions, type ServiceMqttConfig } from '../service-mqtt-client.ts';

export interface AlertMqttLink {
  /** Resolves once connected; rejects when the first connection is refused. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** QoS 1 publish; rejects at once while disconnected (nothing queues: the events are in the warehouse). */
  publish(topic: string, payload: string): Promise<void>;
  /**
   * Subscribes (QoS 1) to `filter` at each connection (clean sessions forget subscriptions) and hands
   * its messages to `onMessage`. Call before start().
   */
  subscribe(filter: string, onMessage: (topic: string, payload: Buffer) => void): void;
}

/** MQTT 3.1.1 §4.7: `+` one level, `#` the rest. */
function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/**
 * The connection alert events go out on (and console ratings come in on), as the same service device the rule engine uses (client id
 * `<id>:alerts`). Best effort by design: MQTT notifications are a push for consoles; the warehouse
 * holds every event and webhooks retry.
 */
export function createAlertMqttLink(
  config: ServiceMqttConfig,
  deps: { readonly logger: Logger; readonly connect?: (url: string, options: IClientOptions) => MqttClient },
): AlertMqttLink {
  const connect = deps.connect ?? mqtt.connect;
  let client: MqttClient | undefined;
  const subscriptions = new Map<string, (topic: string, payload: Buffer) => void>();
  return {
    subscribe(filter, onMessage) {
      subscriptions.set(filter, onMessage);
    },
    start() {
      return new Promise((resolve, reject) => {
        let first = true;
        const c = connect(config.url, serviceClientOptions(config, `${config.username}:alerts`));
        client = c;
        c.on('message', (topic, payload) => {
          for (const [filter, onMessage] of subscriptions) if (topicMatches(filter, topic)) onMessage(topic, payload);
        });
        c.on('connect', () => {
          if (subscriptions.size > 0) {
            c.subscribeAsync([...subscriptions.keys()], { qos: 1 }).catch((err: unknown) => deps.logger.warn({ err }, 'alert link: subscribe failed'));
          }
          if (first) {
            first = false;
            resolve();
          }
        });
        c.on('error', (err) => {
          // Stopping (the stream ended under a packet in flight): not a fault, no warning.
          if (client !== c && !first) return void deps.logger.debug({ err }, 'alert notifications: MQTT error while stopping');
          deps.logger.warn({ err }, 'alert notifications: MQTT error');
          if (first) {
            first = false;
            c.end(true);
            reject(connectionRefused(config, err));
          }
        });
      });
    },
    async stop() {
      const c = client;
      client = undefined;
      await c?.endAsync();
    },
    async publish(topic, payload) {
      const c = client;
      if (c?.connected !== true) throw analyticsErrors.ANALYTICS_ERR_NOTIFY_UNAVAILABLE();
      await c.publishAsync(topic, payload, { qos: 1 });
    },
  };
}
