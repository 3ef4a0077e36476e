import mqtt, { type MqttClient } from 'mqtt';
import { createTelemetryCodec, formatPlace, topics } from '@cityops/protocol';
import type { DeviceCredentials } from '@cityops/simulators';

export interface AlertProbeOptions {
  readonly brokerUrl: string;
  readonly analyticsUrl: string;
  /** One probe gateway per grid; each publishes on its first sensor. */
  readonly devices: readonly DeviceCredentials[];
  /** The rule whose alerts the probes wait for. */
  readonly rule: string;
  /** A path prefix holding every probe's grid (the poll asks for `place=<prefix>`). */
  readonly placePrefix: string;
  readonly normalValue: number;
  readonly breachingValue: number;
  /** Pause between two polls of `GET /v1/alerts`. */
  readonly pollMs: number;
  /** A probe whose alert is not visible by then counts as missed. */
  readonly timeoutMs: number;
}

/** One probe's answer; epoch times (the bench and the city share the machine's clock). */
export interface AlertSample {
  /** Publish → the alert seen by a poll (performance clock), or undefined when missed. */
  readonly visibleMs: number | undefined;
  /** Publish → PUBACK (the broker took the reading, QoS 1). */
  readonly pubackMs: number | undefined;
  readonly publishedAt: number;
  /** The alert's `openedAt`: the lifecycle's clock when it began storing the alert (before the insert). */
  readonly openedAt: number | undefined;
  readonly seenAt: number | undefined;
}

export interface AlertProbes {
  /** Publishes a normal reading from every probe (QoS 1, PUBACKs awaited): teaches the rules the devices. */
  warm(): Promise<void>;
  /** Publishes probe `index`'s one breaching reading; resolves when its alert is visible or timed out. */
  fire(index: number): Promise<AlertSample>;
  /** Polls made, their mean period (ms: the resolution of `visibleMs`) and failed polls. */
  pollStats(): { polls: number; meanPeriodMs: number; errors: number };
  close(): Promise<void>;
}

type Seen = { readonly at: number; readonly epoch: number; readonly openedAt: number };

/**
 * Probe gateways that each publish one breaching reading and wait for the alert of their grid in
 * `GET /v1/alerts`, as an operator's screen would. One shared poller serves every probe in flight, so
 * the API sees the same request rate however many probes overlap.
 */
export async function createAlertProbes(options: AlertProbeOptions): Promise<AlertProbes> {
  const codec = createTelemetryCodec();
  const clients: MqttClient[] = await Promise.all(
    options.devices.map((d) => mqtt.connectAsync(options.brokerUrl, { clientId: d.id, username: d.id, password: d.secret, protocolVersion: 4 })),
  );
  const boot = Math.floor(Date.now() / 1000);
  const seqs = options.devices.map(() => 0);
  const pending = new Map<string, (seen: Seen) => void>();
  let polls = 0;
  let pollTime = 0;
  let pollErrors = 0;
  let polling: Promise<void> | undefined;

  function publish(index: number, value: number): { publishedAt: number; started: number; acked: Promise<number> } {
    const device = options.devices[index]!;
    const sensor = device.sensors[0]!;
    const seq = ++seqs[index]!;
    const publishedAt = Date.now();
    const started = performance.now();
    const acked = clients[index]!
      .publishAsync(topics.telemetry(device.id), codec.encode({ boot, seq, readings: [{ sensor: sensor.id, metric: sensor.metric, ts: publishedAt, value }] }), { qos: 1 })
      .then(() => performance.now() - started);
    return { publishedAt, started, acked };
  }

  async function pollLoop(): Promise<void> {
    const url = `${options.analyticsUrl}/v1/alerts?rule=${options.rule}&place=${encodeURIComponent(options.placePrefix)}&limit=1000`;
    for (;;) {
      // Checked and cleared in one synchronous step: a probe fired later starts a new loop.
      if (pending.size === 0) {
        polling = undefined;
        return;
      }
      const t0 = performance.now();
      try {
        const response = await fetch(url);
        const body = (await response.json()) as { alerts?: { place: string; openedAt: number }[] };
        const at = performance.now();
        const epoch = Date.now();
        for (const alert of body.alerts ?? []) {
          const resolve = pending.get(alert.place);
          if (resolve === undefined) continue;
          pending.delete(alert.place);
          resolve({ at, epoch, openedAt: alert.openedAt });
        }
      } catch {
        pollErrors++; // a probe still waiting is found by the next poll or times out
      }
      await new Promise((resolve) => setTimeout(resolve, options.pollMs));
      polls++;
      pollTime += performance.now() - t0;
    }
  }

  return {
    async warm() {
      await Promise.all(options.devices.map((_, i) => publish(i, options.normalValue).acked));
    },
    async fire(index) {
      const place = formatPlace(options.devices[index]!.place);
      const { publishedAt, started, acked } = publish(index, options.breachingValue);
      let timer: NodeJS.Timeout | undefined;
      const seen = new Promise<Seen | undefined>((resolve) => {
        pending.set(place, resolve);
        timer = setTimeout(() => {
          pending.delete(place);
          resolve(undefined);
        }, options.timeoutMs);
      });
      polling ??= pollLoop();
      const [s, pubackMs] = await Promise.all([seen, acked.catch(() => undefined)]);
      clearTimeout(timer);
      return { visibleMs: s === undefined ? undefined : s.at - started, pubackMs, publishedAt, openedAt: s?.openedAt, seenAt: s?.epoch };
    },
    pollStats: () => ({ polls, meanPeriodMs: polls === 0 ? Number.NaN : pollTime / polls, errors: pollErrors }),
    async close() {
      pending.clear();
      await polling?.catch(() => undefined);
      await Promise.all(clients.map((c) => c.endAsync()));
    },
  };
}
