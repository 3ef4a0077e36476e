import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { topics } from '@cityops/protocol';
import type { Logger } from 'pino';
import { analyticsErrors } from '../errors.ts';
import type { RuleEngineConfig } from './rule-engine-config.ts';
import { connectionRefused, serviceClientOptions } from '../service-mqtt-client.ts';

/** How the engine opens its MQTT connection (tests may wrap it). */
export type MqttConnect = (url: string, options: IClientOptions) => MqttClient;

export interface RuleStreamHandlers {
  telemetry(device: string, payload: Buffer): void;
  status(device: string, payload: Buffer): void;
  pipeline(instance: string, payload: Buffer): void;
  /** Subscribed and receiving (true), or the connection is gone (false). */
  link(up: boolean): void;
}

export interface RuleStream {
  /** Resolves once connected and subscribed; rejects when the first connection is refused. */
  start(): Promise<void>;
  stop(): Promise<void>;
  connected(): boolean;
}

const TELEMETRY = topics.telemetry('');
const STATUS = topics.status('');
const PIPELINE = topics.pipeline('');
const SUBSCRIPTIONS = [topics.allOf('telemetry'), topics.allOf('status'), topics.allOf('pipeline')];

/**
 * The live stream: the engine's connection to the ingest broker as a `service` device (services
 * may subscribe to every device's topics; ingest forwards accepted telemetry only, duplicates and
 * dead letters are withheld). QoS 1 subscriptions; reconnects on its own and resubscribes.
 */
export function createRuleStream(
  config: RuleEngineConfig['mqtt'],
  deps: { readonly connect?: MqttConnect; readonly logger: Logger; readonly handlers: RuleStreamHandlers },
): RuleStream {
  const connect = deps.connect ?? mqtt.connect;
  const { handlers, logger } = deps;
  let client: MqttClient | undefined;
  let up = false;

  function onMessage(topic: string, payload: Buffer): void {
    try {
      if (topic.startsWith(TELEMETRY)) handlers.telemetry(topic.slice(TELEMETRY.length), payload);
      else if (topic.startsWith(STATUS)) handlers.status(topic.slice(STATUS.length), payload);
      else if (topic.startsWith(PIPELINE)) handlers.pipeline(topic.slice(PIPELINE.length), payload);
    } catch (err) {
      logger.error({ err, topic }, 'rule engine failed on a message');
    }
  }

  function setUp(value: boolean): void {
    if (up === value) return;
    up = value;
    handlers.link(value);
  }

  return {
    start() {
      return new Promise((resolve, reject) => {
        let first = true;
        const c = connect(config.url, serviceClientOptions(config, config.clientId ?? `${config.username}:rules`));
        client = c;
        c.on('message', onMessage);
        c.on('connect', () => {
          c.subscribe(SUBSCRIPTIONS, { qos: 1 }, (err, granted) => {
            const refused = granted?.find((g) => g.qos === 128);
            const problem = err ?? (refused === undefined ? undefined : new Error(`subscription to ${refused.topic} refused: is ${config.username} a service device?`));
            if (problem !== undefined) {
              logger.error({ err: problem }, 'rule engine cannot subscribe to the live stream');
              if (first) {
                first = false;
                c.end(true);
                reject(analyticsErrors.ANALYTICS_ERR_CONFIG(problem.message, problem));
              }
              return;
            }
            setUp(true);
            if (first) {
              first = false;
              resolve();
            }
          });
        });
        c.on('close', () => setUp(false));
        c.on('error', (err) => {
          // Stopping: a message still arriving is acknowledged on a stream already ended ("write
          // after end"); not a fault, and a normal stop prints no warning (issue 19).
          if (client !== c && !first) return void logger.debug({ err }, 'rule engine MQTT error while stopping');
          logger.warn({ err }, 'rule engine MQTT error');
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
      if (c === undefined) return;
      c.removeAllListeners('close');
      await c.endAsync();
      // Stopping is not an outage: no link condition.
      up = false;
    },
    connected: () => up,
  };
}
