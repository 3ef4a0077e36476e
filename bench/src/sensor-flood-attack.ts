import { startSensorFlood, type SensorFlood } from '../../test-peers/sensor-flood.ts';
import type { Attack } from './hostile-attacks.ts';
import type { AttackProcessConfig, AttackSpec, AttackStats } from './hostile-attack-messages.ts';

/**
 * The hostile bench's sensor flood (issue 17) as an attack of the attacker process: a provisioned
 * gateway's valid batches, each reading a new sensor id, paced over the phase; stopping it
 * disconnects the device (until then it stays connected and silent, as a faulty gateway would).
 */
export function createSensorFloodAttack(target: AttackProcessConfig, spec: Extract<AttackSpec, { kind: 'sensor_flood' }>): Attack {
  let flood: Promise<SensorFlood> | undefined;
  return {
    start() {
      flood = startSensorFlood({
        brokerUrl: `mqtt://${target.host}:${target.port}`,
        device: spec.device,
        batches: spec.batches,
        readingsPerBatch: spec.readingsPerBatch,
        batchesPerSecond: spec.batchesPerSecond,
        inflight: spec.inflight,
      });
      flood.catch(() => undefined); // surfaces at stop
    },
    async stop(): Promise<AttackStats> {
      const s = await (await flood!).stop();
      return {
        attempts: 1,
        connected: 1,
        closedByBroker: 0,
        loggedIn: 1,
        loginsRefused: 0,
        bytesSent: 0,
        openAtStop: 1,
        batchesPublished: s.published,
        batchesAcked: s.acked,
        sensorIds: s.sensors,
      };
    },
  };
}
