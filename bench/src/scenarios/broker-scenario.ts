import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { generateCity, provisionGateways, summarizeLatencies, writeCredentialsFile, type DeviceCredentials } from '@cityops/simulators';
import { startCityops } from '../../../test-peers/cityops-process.ts';
import { startMosquitto } from '../../../test-peers/mosquitto.ts';
import { createForwardingSubscriber } from '../forwarding-subscriber.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { brokerCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario, ScenarioOptions } from '../scenario.ts';

const QUESTION =
  'How many 100-reading msgpack batches per second does our broker (`cityops ingest`: device auth, ACL, payload ' +
  "validation, fsync'ed write-ahead log, warehouse) forward to a subscriber at saturation, with what PUBACK and " +
  "publish → subscriber p99 at a rate both sustain, and how does that compare with Debian's mosquitto forwarding " +
  'the same client load (QoS 1, same publisher process, client ids and topics) in the same run?';

const SUBSCRIBER_ID = 'bench-subscriber';

export interface BrokerScenarioOptions {
  readonly gateways: number;
  /** QoS 1 batches in flight per gateway (closed loop at saturation). */
  readonly inflight: number;
  readonly warmupS: number;
  /** The common offered rate is this share of the slower broker's saturation rate. */
  readonly commonShare: number;
}

const FULL: BrokerScenarioOptions = { gateways: 50, inflight: 16, warmupS: 3, commonShare: 0.5 };
const SMOKE: BrokerScenarioOptions = { gateways: 4, inflight: 4, warmupS: 0.5, commonShare: 0.5 };
const BATCH = 100;

/** A broker under test, started, with what the publisher and the subscriber need to reach it. */
interface BrokerUnderTest {
  readonly label: string;
  readonly url: string;
  readonly pid: number;
  readonly subscriberSecret?: string;
  readonly credentials: string;
  stop(): Promise<void>;
}

interface LoadFigures {
  readonly offeredMessagesPerSecond: number;
  readonly forwardedMessagesPerSecond: number;
  readonly ackedMessagesPerSecond: number;
  readonly pubackP50Ms: number;
  readonly pubackP99Ms: number;
  readonly forwardP50Ms: number;
  readonly forwardP99Ms: number;
  readonly latencySamples: number;
  readonly brokerCpuCores: number;
  readonly publisherCpuCores: number;
  readonly subscriberCpuCores: number;
  readonly errors: number;
}

const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

/**
 * One load on one broker: `cityops simulate --mode direct` in its own process for warm-up + window,
 * the subscriber in the bench process counting over the window only. A rate far above what any
 * broker does makes it closed loop: each gateway keeps `inflight` batches unacknowledged.
 */
async function runLoad(
  broker: BrokerUnderTest,
  o: BrokerScenarioOptions,
  messagesPerSecond: number,
  durationS: number,
  decodeEvery: number,
): Promise<LoadFigures> {
  const subscriber = await createForwardingSubscriber({
    brokerUrl: broker.url,
    clientId: SUBSCRIBER_ID,
    ...(broker.subscriberSecret === undefined ? {} : { password: broker.subscriberSecret }),
    decodeEvery,
  });
  try {
    const sim = await startCityops([
      'simulate', '--mode', 'direct', '--credentials', broker.credentials, '--gateways', String(o.gateways), '--broker', broker.url,
      '--rate', String(Math.round(messagesPerSecond * BATCH)), '--batch', String(BATCH), '--inflight', String(o.inflight),
      '--duration', String(o.warmupS + durationS),
    ]);
    await new Promise((resolve) => setTimeout(resolve, o.warmupS * 1000));
    subscriber.reset();
    const cpu0 = { broker: processCpuSeconds(broker.pid), sim: processCpuSeconds(sim.child.pid!), sub: process.cpuUsage() };
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, durationS * 1000));
    const seconds = (performance.now() - t0) / 1000;
    const window = subscriber.window();
    const cpu1 = { broker: processCpuSeconds(broker.pid), sim: processCpuSeconds(sim.child.pid!), sub: process.cpuUsage(cpu0.sub) };
    const done = await sim.waitForJson((v) => v.done === true, 60_000);
    await sim.stop();
    const ack = done.ackLatencyMs as { p50: number; p99: number };
    const fwd = summarizeLatencies(window.latenciesMs);
    return {
      offeredMessagesPerSecond: messagesPerSecond,
      forwardedMessagesPerSecond: window.messages / window.seconds,
      ackedMessagesPerSecond: Number(done.acked) / Number(done.seconds),
      pubackP50Ms: ack.p50,
      pubackP99Ms: ack.p99,
      forwardP50Ms: fwd.p50,
      forwardP99Ms: fwd.p99,
      latencySamples: fwd.count,
      brokerCpuCores: (cpu1.broker - cpu0.broker) / seconds,
      publisherCpuCores: (cpu1.sim - cpu0.sim) / seconds,
      subscriberCpuCores: (cpu1.sub.user + cpu1.sub.system) / 1e6 / seconds,
      errors: Number(done.errors),
    };
  } finally {
    await subscriber.close();
  }
}

async function startOurs(workDir: string, label: string, o: BrokerScenarioOptions, fsync: boolean): Promise<BrokerUnderTest> {
  const dataDir = join(workDir, label);
  await mkdir(dataDir, { recursive: true });
  const token = randomBytes(16).toString('hex');
  const ingest = await startCityops([
    'ingest', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--admin-token', token, ...(fsync ? [] : ['--no-fsync']),
  ]);
  try {
    const httpUrl = String(ingest.ready.httpUrl);
    const fleet = await provisionGateways(httpUrl, token, generateCity({ gateways: o.gateways, seed: 7 }).gateways);
    const response = await fetch(`${httpUrl}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: SUBSCRIBER_ID, kind: 'service' }),
    });
    if (response.status !== 201) throw new Error(`provisioning ${SUBSCRIBER_ID}: ${response.status} ${await response.text()}`);
    const { secret } = (await response.json()) as { secret: string };
    const credentials = join(workDir, `${label}-credentials.json`);
    await writeCredentialsFile(credentials, fleet);
    return { label, url: String(ingest.ready.mqttUrl), pid: ingest.child.pid!, subscriberSecret: secret, credentials, stop: async () => void (await ingest.stop()) };
  } catch (err) {
    await ingest.stop();
    throw err;
  }
}

async function startPeer(workDir: string, o: BrokerScenarioOptions): Promise<BrokerUnderTest> {
  const mosquitto = await startMosquitto();
  // The same client ids and topics as on ours; mosquitto ignores the secrets (anonymous access).
  const fleet: DeviceCredentials[] = generateCity({ gateways: o.gateways, seed: 7 }).gateways.map((g) => ({
    id: g.id,
    secret: 'unused',
    place: g.place,
    sensors: g.sensors,
  }));
  const credentials = join(workDir, 'mosquitto-credentials.json');
  await writeCredentialsFile(credentials, fleet);
  return { label: 'mosquitto', url: mosquitto.url, pid: mosquitto.pid, credentials, stop: () => mosquitto.stop() };
}

export function createBrokerScenario(full: BrokerScenarioOptions, smokeOptions: BrokerScenarioOptions): Scenario {
  return {
    name: 'broker',
    question: QUESTION,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions) {
      const o = smoke ? smokeOptions : full;
      const d = smoke ? 1 : durationS;
      const saturate = 1_000_000; // batches/s offered: far above any broker here, so the loop is closed
      const starters = [
        { key: 'mosquitto', start: () => startPeer(workDir, o) },
        { key: 'ours', start: () => startOurs(workDir, 'ours', o, true) },
        { key: 'ours_no_fsync', start: () => startOurs(workDir, 'ours-no-fsync', o, false) },
      ] as const;
      const brokers = new Map<string, BrokerUnderTest>();
      try {
        for (const s of starters) brokers.set(s.key, await s.start());
        const sat = new Map<string, LoadFigures>();
        for (const s of starters) {
          log(`broker: ${s.key} at saturation (${o.gateways} gateways × ${o.inflight} in flight) for ${d} s`);
          sat.set(s.key, await runLoad(brokers.get(s.key)!, o, saturate, d, 16));
        }
        const slowest = Math.min(sat.get('ours')!.forwardedMessagesPerSecond, sat.get('mosquitto')!.forwardedMessagesPerSecond);
        const common = Math.max(1, Math.round(slowest * o.commonShare));
        const fixed = new Map<string, LoadFigures>();
        for (const s of starters) {
          log(`broker: ${s.key} at ${common} batches/s offered for ${d} s`);
          fixed.set(s.key, await runLoad(brokers.get(s.key)!, o, common, d, 1));
        }
        const load = loadavg();
        const ours = sat.get('ours')!;
        const peer = sat.get('mosquitto')!;
        const ratio = ours.forwardedMessagesPerSecond / peer.forwardedMessagesPerSecond;
        const figures: Record<string, number> = {
          gateways: o.gateways,
          inflight_per_gateway: o.inflight,
          readings_per_batch: BATCH,
          ratio_ours_to_mosquitto: round(ratio, 3),
          ratio_ours_no_fsync_to_mosquitto: round(sat.get('ours_no_fsync')!.forwardedMessagesPerSecond / peer.forwardedMessagesPerSecond, 3),
          common_offered_batches_per_second: common,
        };
        for (const s of starters) {
          const a = sat.get(s.key)!;
          const b = fixed.get(s.key)!;
          Object.assign(figures, {
            [`${s.key}_saturation_forwarded_batches_per_second`]: Math.round(a.forwardedMessagesPerSecond),
            [`${s.key}_saturation_acked_batches_per_second`]: Math.round(a.ackedMessagesPerSecond),
            [`${s.key}_saturation_puback_p99_ms`]: round(a.pubackP99Ms),
            [`${s.key}_saturation_broker_cpu_cores`]: round(a.brokerCpuCores, 2),
            // CPU time per forwarded batch: what the broker costs, whatever share of the machine it got.
            [`${s.key}_saturation_broker_cpu_us_per_batch`]: round((a.brokerCpuCores / a.forwardedMessagesPerSecond) * 1e6, 1),
            [`${s.key}_saturation_publisher_cpu_cores`]: round(a.publisherCpuCores, 2),
            [`${s.key}_saturation_subscriber_cpu_cores`]: round(a.subscriberCpuCores, 2),
            [`${s.key}_common_forwarded_batches_per_second`]: Math.round(b.forwardedMessagesPerSecond),
            // 1 when it kept up with the common rate (≥ 95% forwarded): its p99s are then at that rate, not behind it.
            [`${s.key}_common_sustained`]: b.forwardedMessagesPerSecond >= 0.95 * common ? 1 : 0,
            [`${s.key}_common_puback_p50_ms`]: round(b.pubackP50Ms, 1),
            [`${s.key}_common_puback_p99_ms`]: round(b.pubackP99Ms, 1),
            [`${s.key}_common_forward_p50_ms`]: round(b.forwardP50Ms, 1),
            [`${s.key}_common_forward_p99_ms`]: round(b.forwardP99Ms, 1),
            [`${s.key}_common_forward_samples`]: b.latencySamples,
            [`${s.key}_common_broker_cpu_cores`]: round(b.brokerCpuCores, 2),
            [`${s.key}_errors`]: a.errors + b.errors,
          });
        }
        figures.load_average_1m = round(load[0]!, 1);
        const behind = starters.filter((s) => figures[`${s.key}_common_sustained`] === 0).map((s) => s.key);
        log(`broker: ours ${Math.round(ours.forwardedMessagesPerSecond)}/s, mosquitto ${Math.round(peer.forwardedMessagesPerSecond)}/s, ratio ${ratio.toFixed(3)}`);
        return withCharts(brokerCharts, {
          scenario: 'broker',
          question: QUESTION,
          figures,
          targets: [{ name: 'forwarded batches/s, ours (default, fsync on) / mosquitto', target: '>= 1 (at least Mosquitto\'s rate)', met: ratio >= 1 }],
          notes: [
            `Each broker in its own process; \`cityops simulate --mode direct\` (${o.gateways} gateways, QoS 1, ${BATCH}-reading msgpack batches, ${o.inflight} in flight each) in another; the subscriber (\`${SUBSCRIBER_ID}\`, QoS 1 on cityops/v1/telemetry/+) in the bench process. All share ${availableParallelism()} cores; load average at the end ${load.map((l) => l.toFixed(1)).join(' ')}. The CPU of each process is listed: when the publisher or the subscriber uses a whole core, the figure is theirs, not the broker's.`,
            `Saturation: ${(saturate * BATCH).toLocaleString('en')} readings/s offered, so each gateway keeps ${o.inflight} batches unacknowledged (the publisher refills its windows every 10 ms). Forwarded = batches the subscriber received over the ${d} s window after ${o.warmupS} s of warm-up; acked = PUBACKs the publisher got over the whole run. Common rate: ${Math.round(o.commonShare * 100)}% of the slower of ours and mosquitto at saturation, the same for every broker; PUBACK p50/p99 over the whole run, publish → subscriber over the window (publish time from the batch's last reading, ms resolution).`,
            'Per batch, ours does what mosquitto does not (besides authenticating each device against its registry at connect): it checks the topic ACL, decodes the msgpack batch and validates it against the schema (ajv), deduplicates on (device, boot, seq), appends it to a write-ahead log and fsyncs that before the PUBACK (group commit), and inserts its 100 rows into the embedded warehouse; mosquitto (anonymous, no persistence) routes bytes. `ours_no_fsync` is the same process with `--no-fsync`: shown to tell the fsync from the rest; the target applies to the default.',
            '`*_broker_cpu_us_per_batch` is CPU time per forwarded batch at saturation: on a machine shared with other work a broker gets only part of a core, so this, not the rate, says what a batch costs; the rate ratio is the target\'s figure.',
            behind.length === 0
              ? `Every broker kept up with the common rate (${common} batches/s).`
              : `Did not keep up with the common rate (${common} batches/s, half the slower saturation rate) in this run: ${behind.join(', ')}; their p99s there are of a growing backlog (a machine busy with other work takes CPU from it between the two measurements).`,
            'mosquitto keeps at most 1,000 queued QoS 1 messages per subscriber by default and drops beyond that, so its acked rate can exceed its forwarded rate; ours does not drop: forwarded is the figure compared.',
          ],
        });
      } finally {
        for (const b of [...brokers.values()].reverse()) await b.stop();
      }
    },
  };
}

export const brokerScenario: Scenario = createBrokerScenario(FULL, SMOKE);
