import mqtt from 'mqtt';
import { createTelemetryCodec, topics } from '@cityops/protocol';
import type { DeviceCredentials } from '@cityops/simulators';

export interface VisibilityProbe {
  /** Publishes one reading and resolves with ms from publish until GET /v1/readings returns it. */
  measure(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Measures publish -> queryable end to end, as a user would see it: a probe gateway publishes one
 * reading with QoS 1, then polls the readings API until the reading is there.
 */
export async function createVisibilityProbe(brokerUrl: string, httpUrl: string, device: DeviceCredentials, pollMs = 10): Promise<VisibilityProbe> {
  const codec = createTelemetryCodec();
  const client = await mqtt.connectAsync(brokerUrl, {
    clientId: device.id,
    username: device.id,
    password: device.secret,
    protocolVersion: 4,
  });
  const boot = Math.floor(Date.now() / 1000);
  let seq = 0;
  return {
    async measure() {
      seq++;
      const ts = Date.now();
      const started = performance.now();
      await client.publishAsync(topics.telemetry(device.id), codec.encode({ boot, seq, readings: [{ sensor: 'probe', metric: 'probe', ts, value: seq }] }), {
        qos: 1,
      });
      const url = `${httpUrl}/v1/readings?device=${device.id}&from=${ts}&to=${ts + 1}&limit=10`;
      for (;;) {
        const response = await fetch(url);
        const body = (await response.json()) as { readings?: { value: number }[] };
        if (body.readings?.some((r) => r.value === seq) === true) return performance.now() - started;
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    },
    async close() {
      await client.endAsync();
    },
  };
}
