import { createTelemetryCodec, topics } from '@cityops/protocol';
import { createCountingSubscriber, type CountingSubscriber } from './counting-subscriber.ts';

export interface ForwardingSubscriberConfig {
  readonly brokerUrl: string;
  /** Client id and username (a `service` device on our broker; anonymous on mosquitto). */
  readonly clientId: string;
  readonly password?: string;
  /** Decode one message in this many for its publish → here latency (1: every message, and count its readings). */
  readonly decodeEvery: number;
}

/**
 * The subscriber a broker forwards telemetry to: `cityops/v1/telemetry/+` with QoS 1. Publish time
 * is read from the batch itself: the direct publisher and the gateway agent stamp readings with the
 * wall clock just before publishing, and the last reading of a direct-publisher batch is stamped
 * `now - 1` ms. Same machine, same clock; millisecond resolution.
 */
export function createForwardingSubscriber(config: ForwardingSubscriberConfig): Promise<CountingSubscriber> {
  const codec = createTelemetryCodec();
  return createCountingSubscriber({ ...config, filter: topics.telemetry('+'), maxSamples: 500_000 }, (payload) => {
    const batch = codec.decode(payload);
    const last = batch.readings[batch.readings.length - 1];
    return { readings: batch.readings.length, latencyMs: last === undefined ? Number.NaN : Date.now() - (last.ts + 1) };
  });
}
