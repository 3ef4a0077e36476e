import type { GatewaySpec } from './city.ts';
import type { DeviceCredentials } from './credentials-file.ts';

/** Provisions gateways through a running cityops's admin API, a few at a time. */
export async function provisionGateways(
  httpUrl: string,
  adminToken: string,
  gateways: readonly GatewaySpec[],
  concurrency = 8,
): Promise<DeviceCredentials[]> {
  const out: DeviceCredentials[] = new Array<DeviceCredentials>(gateways.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < gateways.length) {
      const index = next++;
      const g = gateways[index]!;
      const place = [g.place.district, g.place.subdistrict, g.place.grid, g.place.building].filter((p) => p !== '').join('/');
      const response = await fetch(`${httpUrl}/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: g.id, kind: 'gateway', place }),
      });
      if (response.status !== 201) throw new Error(`provisioning ${g.id}: ${response.status} ${await response.text()}`);
      const { secret } = (await response.json()) as { secret: string };
      out[index] = { id: g.id, secret, place: g.place, sensors: g.sensors };
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}
