import { parsePlace, type DeviceKind } from '@cityops/protocol';
import { createDeviceRegistry, type Warehouse } from '@cityops/warehouse';

export interface RegisteredDevice {
  readonly id: string;
  readonly secret: string;
  /** The registered place, as the verifier records it. */
  readonly venue: string;
  /** `Authorization: Basic …` of id:secret. */
  readonly basic: string;
}

/** Provisions devices in the warehouse's registry, as `cityops device add` does. */
export async function registerDevices(
  warehouse: Warehouse,
  devices: readonly { id: string; at: string; kind?: DeviceKind }[],
): Promise<RegisteredDevice[]> {
  const registry = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse });
  await registry.start();
  try {
    const out: RegisteredDevice[] = [];
    for (const d of devices) {
      const { secret } = await registry.add({ id: d.id, kind: d.kind ?? 'scanner', place: parsePlace(d.at) });
      out.push({ id: d.id, secret, venue: d.at, basic: `Basic ${Buffer.from(`${d.id}:${secret}`).toString('base64')}` });
    }
    return out;
  } finally {
    await registry.stop();
  }
}
