import { topics } from '@cityops/protocol';
import { createCountingSubscriber, type CountingSubscriber } from './counting-subscriber.ts';
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

/**
 * The verifier's side of the relay bench: `cityops/v1/verify-req/+` with QoS 1, as the verifier's
 * MQTT front subscribes; counts what the broker delivers.
 */
export function createRelaySubscriber(config: RelaySubscriberConfig): Promise<CountingSubscriber> {
  return createCountingSubscriber({ ...config, filter: topics.allOf('verify-req') }, (payload) => ({
    readings: 0,
    latencyMs: relayLatencyMs(payload),
  }));
}
