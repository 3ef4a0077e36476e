import { availableParallelism, loadavg } from 'node:os';
import { MOSQUITTO } from '../../../test-peers/debian-peers.ts';
import { brokerCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario, ScenarioOptions } from '../scenario.ts';
import { startOurBroker, startPeerBroker } from '../brokers-under-test.ts';
import { measureIntake, prepareIntake, startIntakePeer, type IntakeOptions, type IntakeResult } from './broker-intake.ts';
import { measureRelay, prepareRelays, type RelayOptions, type RelayResult } from './broker-relay.ts';

const QUESTION =
  "Relay: how many QoS 1 verify requests per second does our broker (`cityops ingest`: device auth, ACL) deliver from " +
  "scanners to the verifier's subscription at saturation, with what publish → delivered p99 at a rate both sustain and " +
  "what CPU per message, against Debian's mosquitto relaying the same load? Intake: how many telemetry readings per " +
  'second from gateways end up stored, ours (validation, dedup, fsync\'ed WAL, embedded chDB) against mosquitto plus an ' +
  'mqtt.js subscriber inserting into chDB in its fastest format (no durability), in the same run?';

export interface BrokerScenarioOptions {
  readonly relay: RelayOptions;
  readonly intake: IntakeOptions;
}

const FULL: BrokerScenarioOptions = {
  relay: { scanners: 50, inflight: 16, qrChars: 460, warmupS: 3, commonShare: 0.5 },
  intake: { gateways: 50, inflight: 16, warmupS: 3, flushRows: 50_000, flushMs: 200 },
};
const SMOKE: BrokerScenarioOptions = {
  relay: { scanners: 4, inflight: 4, qrChars: 460, warmupS: 0.3, commonShare: 0.5 },
  intake: { gateways: 4, inflight: 4, warmupS: 0.5, flushRows: 50_000, flushMs: 200 },
};

/**
 * One scenario, two questions (issue 20): what our broker costs where it only relays (scanners'
 * verify requests), and what our whole intake costs where a peer pipeline must store too. One name,
 * so `npm run bench -- broker` answers both and the README keeps its place for it.
 */
export function createBrokerScenario(full: BrokerScenarioOptions, smokeOptions: BrokerScenarioOptions): Scenario {
  return {
    name: 'broker',
    peers: [MOSQUITTO],
    question: QUESTION,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions) {
      const o = smoke ? smokeOptions : full;
      const d = smoke ? 1 : durationS;
      let relay: RelayResult;
      let intake: IntakeResult;
      // Ours serves both questions (relay first: intake ends by stopping ours to count its store).
      // Mosquitto: one for the relay and one, with the peer's intake subscriber, for the intake.
      const started = await Promise.allSettled([
        startOurBroker(workDir, 'ours'),
        // mosquitto.conf(5): max_inflight_messages (default 20) caps the QoS 1 messages in flight to
        // each client; 0 lifts it, as aedes has no such window: the relay measures routing, not the window.
        startPeerBroker(['max_inflight_messages 0']),
        startPeerBroker().then(async (mosquitto) => {
          try {
            return { mosquitto, peer: await startIntakePeer(mosquitto.url, o.intake, workDir) };
          } catch (err) {
            await mosquitto.stop();
            throw err;
          }
        }),
      ]);
      const [oursStarted, relayPeerStarted, intakePeerStarted] = started;
      try {
        if (oursStarted.status === 'rejected') throw oursStarted.reason;
        if (relayPeerStarted.status === 'rejected') throw relayPeerStarted.reason;
        if (intakePeerStarted.status === 'rejected') throw intakePeerStarted.reason;
        const ours = oursStarted.value;
        const { mosquitto, peer } = intakePeerStarted.value;
        // Both questions' clients provisioned, forked and connected at once, idle until measured.
        const [relaySetup, intakeSetup] = await Promise.allSettled([
          prepareRelays(o.relay, { ours, mosquitto: relayPeerStarted.value }),
          prepareIntake(o.intake, { ours, mosquitto, peer }, workDir),
        ]);
        try {
          if (relaySetup.status === 'rejected') throw relaySetup.reason;
          if (intakeSetup.status === 'rejected') throw intakeSetup.reason;
          relay = await measureRelay(o.relay, relaySetup.value, { durationS: d, log });
          intake = await measureIntake(o.intake, intakeSetup.value, { durationS: d, log });
        } finally {
          if (intakeSetup.status === 'fulfilled') await intakeSetup.value.close();
          if (relaySetup.status === 'fulfilled') await relaySetup.value.close();
        }
      } finally {
        if (intakePeerStarted.status === 'fulfilled') {
          await intakePeerStarted.value.peer.close();
          await intakePeerStarted.value.mosquitto.stop();
        }
        if (relayPeerStarted.status === 'fulfilled') await relayPeerStarted.value.stop();
        if (oursStarted.status === 'fulfilled') await oursStarted.value.stop();
      }
      const load = loadavg();
      return withCharts(brokerCharts, {
        scenario: 'broker',
        question: QUESTION,
        figures: { ...relay.figures, ...intake.figures, load_average_1m: Number(load[0]!.toFixed(1)) },
        targets: [
          { name: 'relay: requests/s delivered at saturation, ours / mosquitto (`relay_ratio_to_mosquitto`)', target: '>= 1', met: relay.ratio >= 1 },
          { name: 'intake: readings/s stored at saturation, ours / mosquitto + subscriber → chDB (`intake_ratio_to_peer_pipeline`)', target: '>= 1', met: intake.ratio >= 1 },
        ],
        notes: [
          `Every broker, publisher and subscriber in a process of its own (the relay's subscriber in the bench process), all on ${availableParallelism()} cores; load average at the end ${load.map((l) => l.toFixed(1)).join(' ')}. The CPU of each process is listed: when a publisher or a subscriber uses a whole core, the rate is theirs, not the broker's.`,
          ...relay.notes,
          ...intake.notes,
        ],
      });
    },
  };
}

export const brokerScenario: Scenario = createBrokerScenario(FULL, SMOKE);
