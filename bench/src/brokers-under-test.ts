import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceKind } from '@cityops/protocol';
import { startCityops } from '../../test-peers/cityops-process.ts';
import { startMosquitto } from '../../test-peers/mosquitto.ts';

/** A broker under test, started: where clients reach it and which process to measure. */
export interface BrokerUnderTest {
  readonly label: string;
  readonly url: string;
  readonly pid: number;
  /** Registers a device and returns its secret (mosquitto: anonymous, any secret does). */
  provision(device: { id: string; kind: DeviceKind; place?: string }): Promise<string>;
  stop(): Promise<void>;
}

/** Ours, as shipped: `cityops ingest` (device auth, ACL, telemetry pipeline with its fsync'ed WAL). */
export interface OurBroker extends BrokerUnderTest {
  readonly httpUrl: string;
  /** The ingest's data directory (its chDB store is `<dataDir>/warehouse`). */
  readonly dataDir: string;
  readonly adminToken: string;
}

export async function startOurBroker(workDir: string, label: string): Promise<OurBroker> {
  const dataDir = join(workDir, label);
  await mkdir(dataDir, { recursive: true });
  const adminToken = randomBytes(16).toString('hex');
  const ingest = await startCityops(['ingest', '--data', dataDir, '--mqtt-port', '0', '--http-port', '0', '--admin-token', adminToken]);
  const httpUrl = String(ingest.ready.httpUrl);
  return {
    label,
    url: String(ingest.ready.mqttUrl),
    httpUrl,
    pid: ingest.child.pid!,
    dataDir,
    adminToken,
    async provision(device) {
      const response = await fetch(`${httpUrl}/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(device),
      });
      if (response.status !== 201) throw new Error(`provisioning ${device.id}: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { secret: string }).secret;
    },
    stop: async () => void (await ingest.stop()),
  };
}

/** Debian's mosquitto (anonymous, no persistence), its defaults but for `extraConfig` lines. */
export async function startPeerBroker(extraConfig: readonly string[] = []): Promise<BrokerUnderTest> {
  const mosquitto = await startMosquitto({ extraConfig });
  return { label: 'mosquitto', url: mosquitto.url, pid: mosquitto.pid, provision: () => Promise.resolve('unused'), stop: () => mosquitto.stop() };
}
