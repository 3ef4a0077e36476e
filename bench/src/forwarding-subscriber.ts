import mqtt, { type MqttClient } from 'mqtt';
import { createTelemetryCodec, topics } from '@cityops/protocol';

export interface ForwardingSubscriberConfig {
  readonly brokerUrl: string;
  /** Client id and username (a `service` device on our broker; anonymous on mosquitto). */
  readonly clientId: string;
  readonly password?: string;
  /** Decode one message in this many for its publish → here latency (1: every message, and count its readings). */
  readonly decodeEvery: number;
}

export interface ForwardingWindow {
  readonly messages: number;
  /** Readings in the decoded messages (all of them when `decodeEvery` is 1). */
  readonly decodedReadings: number;
  readonly seconds: number;
  /** Publish → received, ms, of the decoded messages. */
  readonly latenciesMs: readonly number[];
}

export interface ForwardingSubscriber {
  /** Starts a new counting window (the previous one is discarded). */
  reset(): void;
  /** What arrived since the last `reset()`. */
  window(): ForwardingWindow;
  close(): Promise<void>;
}

/**
 * The subscriber a broker forwards telemetry to: `cityops/v1/telemetry/+` with QoS 1 (mqtt.js sends
 * the PUBACKs). Publish time is read from the batch itself: the direct publisher and the gateway
 * agent stamp readings with the wall clock just before publishing, and the last reading of a
 * direct-publisher batch is stamped `now - 1` ms. Same machine, same clock; millisecond resolution.
 */
export async function createForwardingSubscriber(config: ForwardingSubscriberConfig): Promise<ForwardingSubscriber> {
  const codec = createTelemetryCodec();
  const client: MqttClient = await mqtt.connectAsync(config.brokerUrl, {
    clientId: config.clientId,
    username: config.clientId,
    ...(config.password === undefined ? {} : { password: config.password }),
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
  });
  let messages = 0;
  let decodedReadings = 0;
  let latencies: number[] = [];
  let started = performance.now();
  client.on('message', (_topic, payload) => {
    messages++;
    if (messages % config.decodeEvery !== 0) return;
    const batch = codec.decode(payload);
    decodedReadings += batch.readings.length;
    const last = batch.readings[batch.readings.length - 1];
    if (last !== undefined && latencies.length < 500_000) latencies.push(Date.now() - (last.ts + 1));
  });
  const granted = await client.subscribeAsync(topics.telemetry('+'), { qos: 1 });
  if (granted.some((g) => g.qos === 128)) throw new Error(`${config.clientId}: subscription to ${topics.telemetry('+')} refused`);
  return {
    reset() {
      messages = 0;
      decodedReadings = 0;
      latencies = [];
      started = performance.now();
    },
    window: () => ({ messages, decodedReadings, seconds: (performance.now() - started) / 1000, latenciesMs: latencies }),
    async close() {
      await client.endAsync();
    },
  };
}
