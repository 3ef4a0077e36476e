import { summarizeLatencies } from '@cityops/simulators';
import type { BrokerUnderTest } from '../brokers-under-test.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { startRelayLoad, type RelayLoad } from '../relay-load-client.ts';
import type { RelayClient } from '../relay-load-messages.ts';
import type { CountingSubscriber } from '../counting-subscriber.ts';
import { createRelaySubscriber } from '../relay-subscriber.ts';

export interface RelayOptions {
  readonly scanners: number;
  /** QoS 1 requests in flight per scanner at saturation (closed loop). */
  readonly inflight: number;
  readonly qrChars: number;
  readonly warmupS: number;
  /** The common offered rate is this share of the slower broker's saturation rate. */
  readonly commonShare: number;
}

export interface RelayResult {
  readonly ratio: number;
  readonly figures: Record<string, number>;
  readonly notes: string[];
}

interface Relay {
  readonly broker: BrokerUnderTest;
  readonly load: RelayLoad;
  readonly subscriber: CountingSubscriber;
}

interface RelayWindowFigures {
  readonly deliveredPerSecond: number;
  readonly deliveredP50Ms: number;
  readonly deliveredP99Ms: number;
  readonly samples: number;
  readonly pubackP99Ms: number;
  readonly brokerCpuCores: number;
  readonly publisherCpuCores: number;
  readonly subscriberCpuCores: number;
  readonly errors: number;
}

const SUBSCRIBER_ID = 'bench-verifier';
const SATURATE = 10_000_000; // requests/s offered: far above any broker here, so each client's window closes the loop
const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);
const wait = (s: number) => new Promise((resolve) => setTimeout(resolve, s * 1000));

/** Scanners and the verifier's service account on `broker`, its subscriber, and the publishers' process. */
async function prepare(broker: BrokerUnderTest, o: RelayOptions, decodeEvery: number): Promise<Relay> {
  const clients: RelayClient[] = await Promise.all(
    Array.from({ length: o.scanners }, async (_, i) => {
      const id = `bench-scanner-${i}`;
      return { id, secret: await broker.provision({ id, kind: 'scanner', place: `d-${i % 4}/s-${i % 8}/g-${i % 16}` }) };
    }),
  );
  const password = await broker.provision({ id: SUBSCRIBER_ID, kind: 'service' });
  const subscriber = await createRelaySubscriber({ brokerUrl: broker.url, clientId: SUBSCRIBER_ID, password, decodeEvery, maxSamples: 500_000 });
  try {
    return { broker, subscriber, load: await startRelayLoad({ brokerUrl: broker.url, clients, inflight: o.inflight, qrChars: o.qrChars }) };
  } catch (err) {
    await subscriber.close();
    throw err;
  }
}

/** One offered rate on one broker: warm-up, then a window counted at the subscriber; the publishers settle afterwards. */
async function measure(r: Relay, o: RelayOptions, perSecond: number, durationS: number): Promise<RelayWindowFigures> {
  r.load.setRate(perSecond);
  await wait(o.warmupS);
  const before = await r.load.stats();
  r.subscriber.reset();
  const cpu0 = { broker: processCpuSeconds(r.broker.pid), load: processCpuSeconds(r.load.pid), sub: process.cpuUsage() };
  await wait(durationS);
  const window = r.subscriber.window();
  const cpu1 = { broker: processCpuSeconds(r.broker.pid), load: processCpuSeconds(r.load.pid), sub: process.cpuUsage(cpu0.sub) };
  const after = await r.load.stats();
  await r.load.settle(30_000);
  const delivered = summarizeLatencies(window.latenciesMs);
  return {
    deliveredPerSecond: window.messages / window.seconds,
    deliveredP50Ms: delivered.p50,
    deliveredP99Ms: delivered.p99,
    samples: delivered.count,
    pubackP99Ms: after.puback.p99,
    brokerCpuCores: (cpu1.broker - cpu0.broker) / window.seconds,
    publisherCpuCores: (cpu1.load - cpu0.load) / window.seconds,
    subscriberCpuCores: (cpu1.sub.user + cpu1.sub.system) / 1e6 / window.seconds,
    errors: after.errors - before.errors,
  };
}

/**
 * Relay: scanners' verify requests (QoS 1) through a broker to the verifier's subscription, ours
 * (`cityops ingest`: device auth at connect, ACL on every publish and subscribe) against Debian's
 * mosquitto, the same publisher process, client ids, topics and payloads.
 */
export async function measureRelay(o: RelayOptions, relays: RelaySetup, run: { durationS: number; log: (line: string) => void }): Promise<RelayResult> {
  const keys = ['ours', 'mosquitto'] as const;
  const sat = new Map<string, RelayWindowFigures>();
  for (const key of keys) {
    run.log(`broker relay: ${key} at saturation (${o.scanners} scanners × ${o.inflight} in flight) for ${run.durationS} s`);
    sat.set(key, await measure(relays.get(key)!, o, SATURATE, run.durationS));
  }
  const ours = sat.get('ours')!;
  const peer = sat.get('mosquitto')!;
  const common = Math.max(1, Math.round(Math.min(ours.deliveredPerSecond, peer.deliveredPerSecond) * o.commonShare));
  const fixed = new Map<string, RelayWindowFigures>();
  for (const key of keys) {
    run.log(`broker relay: ${key} at ${common} requests/s offered for ${run.durationS} s`);
    fixed.set(key, await measure(relays.get(key)!, o, common, run.durationS));
  }
  const ratio = ours.deliveredPerSecond / peer.deliveredPerSecond;
  const figures: Record<string, number> = {
    relay_scanners: o.scanners,
    relay_inflight_per_scanner: o.inflight,
    relay_qr_chars: o.qrChars,
    relay_ratio_to_mosquitto: round(ratio, 3),
    relay_common_offered_per_second: common,
  };
  for (const key of keys) {
    const a = sat.get(key)!;
    const b = fixed.get(key)!;
    Object.assign(figures, {
      [`relay_${key}_saturation_delivered_per_second`]: Math.round(a.deliveredPerSecond),
      // CPU time per delivered request: what the broker costs, whatever share of the machine it got.
      [`relay_${key}_saturation_broker_cpu_us_per_message`]: round((a.brokerCpuCores / a.deliveredPerSecond) * 1e6, 1),
      [`relay_${key}_saturation_broker_cpu_cores`]: round(a.brokerCpuCores, 2),
      [`relay_${key}_saturation_publisher_cpu_cores`]: round(a.publisherCpuCores, 2),
      [`relay_${key}_saturation_subscriber_cpu_cores`]: round(a.subscriberCpuCores, 2),
      [`relay_${key}_common_delivered_per_second`]: Math.round(b.deliveredPerSecond),
      // 1 when it kept up with the common rate (≥ 95% delivered): its p99 is then at that rate, not of a backlog.
      [`relay_${key}_common_sustained`]: b.deliveredPerSecond >= 0.95 * common ? 1 : 0,
      [`relay_${key}_common_delivered_p50_ms`]: round(b.deliveredP50Ms, 2),
      [`relay_${key}_common_delivered_p99_ms`]: round(b.deliveredP99Ms, 2),
      [`relay_${key}_common_delivered_samples`]: b.samples,
      [`relay_${key}_common_puback_p99_ms`]: round(b.pubackP99Ms, 1),
      [`relay_${key}_common_broker_cpu_us_per_message`]: round((b.brokerCpuCores / b.deliveredPerSecond) * 1e6, 1),
      [`relay_${key}_errors`]: a.errors + b.errors,
    });
  }
  const behind = keys.filter((k) => figures[`relay_${k}_common_sustained`] === 0);
  run.log(`broker relay: ours ${Math.round(ours.deliveredPerSecond)}/s, mosquitto ${Math.round(peer.deliveredPerSecond)}/s, ratio ${ratio.toFixed(3)}`);
  return {
    ratio,
    figures,
    notes: [
      `Relay: ${o.scanners} scanners (devices of kind \`scanner\` on ours) publish verify requests (\`{"id","qr","venue"}\`, ${o.qrChars}-character QR text, QoS 1) on cityops/v1/verify-req/{scanner}, each keeping up to ${o.inflight} unacknowledged, from one process (relay-load-process.ts); \`${SUBSCRIBER_ID}\` (a \`service\` on ours) subscribes to cityops/v1/verify-req/+ with QoS 1 in the bench process, as the verifier's MQTT front does. This is the path scanner traffic takes through our broker: device auth at connect and the topic ACL on every publish and subscription, no storage (ingest stores telemetry only). Mosquitto: anonymous, no persistence, \`max_inflight_messages 0\` (its default window of 20 QoS 1 messages in flight to the subscriber held it to ~3,000/s in a trial run, a flow-control setting rather than its routing; aedes has no such window), the same process, client ids, topics and payloads.`,
      `Saturation: ${SATURATE.toLocaleString('en')} requests/s offered, so each scanner's window closes the loop; delivered = requests the subscriber received over the ${run.durationS} s window after ${o.warmupS} s of warm-up. Common rate: ${Math.round(o.commonShare * 100)}% of the slower broker's saturation rate, the same for both; publish → delivered from the send time in each request's id (µs digits, one clock for every process of the machine), one request in 16 at saturation.`,
      '`relay_*_broker_cpu_us_per_message` is the broker process\'s CPU time per delivered request (receiving the PUBLISH, its PUBACK, routing, sending it on and taking the subscriber\'s PUBACK); publisher and subscriber CPU are listed, for when one of them, not the broker, is what saturated.',
      behind.length === 0 ? `Both brokers kept up with the common rate (${common} requests/s).` : `Did not keep up with the common rate (${common} requests/s) in this run: ${behind.join(', ')}; their p99s there are of a backlog.`,
    ],
  };
}

/** Both brokers' scanners, subscribers and publisher processes, ready and idle. */
export interface RelaySetup {
  get(key: 'ours' | 'mosquitto'): Relay | undefined;
  close(): Promise<void>;
}

/** Provisions and connects everything the relay needs on both brokers at once (nothing is measured yet). */
export async function prepareRelays(o: RelayOptions, brokers: { readonly ours: BrokerUnderTest; readonly mosquitto: BrokerUnderTest }): Promise<RelaySetup> {
  const relays = new Map<'ours' | 'mosquitto', Relay>();
  const close = async () => {
    for (const r of relays.values()) {
      await r.load.close();
      await r.subscriber.close();
    }
  };
  const settled = await Promise.allSettled((['ours', 'mosquitto'] as const).map(async (key) => relays.set(key, await prepare(brokers[key], o, 16))));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    await close();
    throw failed.reason;
  }
  return { get: (key) => relays.get(key), close };
}
