import mqtt, { type MqttClient } from 'mqtt';

export interface CountingSubscriberConfig {
  readonly brokerUrl: string;
  /** Client id and username (a `service` device on our broker; anonymous on mosquitto). */
  readonly clientId: string;
  readonly password?: string;
  /** The topic filter subscribed with QoS 1 (mqtt.js sends the PUBACKs). */
  readonly filter: string;
  /** Read one message in this many (1: every one). */
  readonly decodeEvery: number;
  /** The most latencies kept per window: what bounds its memory. */
  readonly maxSamples: number;
}

/** What a read message tells: its readings (0 when not counted) and its publish → here latency. */
export interface MessageSample {
  readonly readings: number;
  readonly latencyMs: number;
}

export interface CountingWindow {
  readonly messages: number;
  /** Readings in the read messages (all of them when `decodeEvery` is 1). */
  readonly readings: number;
  readonly seconds: number;
  /** Publish → here, ms, of the read messages (at most `maxSamples`). */
  readonly latenciesMs: readonly number[];
}

export interface CountingSubscriber {
  /** Starts a new counting window (the previous one is discarded). */
  reset(): void;
  /** What arrived since the last `reset()`. */
  window(): CountingWindow;
  close(): Promise<void>;
}

/** A bench subscriber that counts what a broker delivers on one filter, and reads one message in `decodeEvery`. */
export async function createCountingSubscriber(
  config: CountingSubscriberConfig,
  read: (payload: Buffer) => MessageSample,
): Promise<CountingSubscriber> {
  const client: MqttClient = await mqtt.connectAsync(config.brokerUrl, {
    clientId: config.clientId,
    username: config.clientId,
    ...(config.password === undefined ? {} : { password: config.password }),
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
  });
  let messages = 0;
  let readings = 0;
  let latencies: number[] = [];
  let started = performance.now();
  client.on('message', (_topic, payload) => {
    messages++;
    if (messages % config.decodeEvery !== 0) return;
    const sample = read(payload);
    readings += sample.readings;
    if (latencies.length < config.maxSamples) latencies.push(sample.latencyMs);
  });
  const granted = await client.subscribeAsync(config.filter, { qos: 1 });
  if (granted.some((g) => g.qos === 128)) throw new Error(`${config.clientId}: subscription to ${config.filter} refused`);
  return {
    reset() {
      messages = 0;
      readings = 0;
      latencies = [];
      started = performance.now();
    },
    window: () => ({ messages, readings, seconds: (performance.now() - started) / 1000, latenciesMs: latencies }),
    async close() {
      await client.endAsync();
    },
  };
}
