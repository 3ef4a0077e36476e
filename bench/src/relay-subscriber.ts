import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '@cityops/protocol';
import { relayLatencyMs } from './relay-request.ts';

export interface RelaySubscriberConfig {
  readonly brokerUrl: string;
  /** Client id and username (a `service` device on our broker; anonymous on mosquitto). */
  readonly clientId: string;
  readonly password?: string;
  /** Parse one request in this many for its publish → delivered latency (1: every one). */
  readonly decodeEvery: number;
  /** The most latencies kept per window: what bounds its memory. */
  readonly maxSamples: number;
}

export interface RelayWindow {
  readonly messages: number;
  readonly seconds: number;
  /** Publish → delivered, ms, of the parsed requests. */
  readonly latenciesMs: readonly number[];
}

export interface RelaySubscriber {
  /** Starts a new counting window (the previous one is discarded). */
  reset(): void;
  /** What arrived since the last `reset()`. */
  window(): RelayWindow;
  close(): Promise<void>;
}

/**
 * The verifier's side of the relay bench: `cityops/v1/verify-req/+` with QoS 1, as the verifier's
 * MQTT front subscribes (mqtt.js sends the PUBACKs); counts what the broker delivers.
 */
export async function createRelaySubscriber(config: RelaySubscriberConfig): Promise<RelaySubscriber> {
  const client: MqttClient = await mqtt.connectAsync(config.brokerUrl, {
    clientId: config.clientId,
    username: config.clientId,
    ...(config.password === undefined ? {} : { password: config.password }),
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
  });
  let messages = 0;
  let latencies: number[] = [];
  let started = performance.now();
  client.on('message', (_topic, payload) => {
    messages++;
    if (messages % config.decodeEvery === 0 && latencies.length < config.maxSamples) latencies.push(relayLatencyMs(payload));
  });
  const filter = topics.allOf('verify-req');
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  if (granted.some((g) => g.qos === 128)) throw new Error(`${config.clientId}: subscription to ${filter} refused`);
  return {
    reset() {
      messages = 0;
      latencies = [];
      started = performance.now();
    },
    window: () => ({ messages, seconds: (performance.now() - started) / 1000, latenciesMs: latencies }),
    async close() {
      await client.endAsync();
    },
  };
}
