import { access, readFile, writeFile } from 'node:fs/promises';
import type { DeviceRegistry } from '@cityops/warehouse';
import { formatPlace } from '@cityops/protocol';
import { readCredentialsFile, writeCredentialsFile, type City, type DeviceCredentials, type ScannerSite } from '@cityops/simulators';

/**
 * Provisions the simulated city's gateways once and keeps their credentials in the data directory;
 * later starts reuse them (devices already registered are not provisioned again).
 */
export async function provisionCity(city: City, registry: DeviceRegistry, credentialsPath: string): Promise<DeviceCredentials[]> {
  const known = await access(credentialsPath).then(
    () => readCredentialsFile(credentialsPath),
    () => [] as DeviceCredentials[],
  );
  const byId = new Map(known.map((d) => [d.id, d]));
  const devices: DeviceCredentials[] = new Array<DeviceCredentials>(city.gateways.length);
  let added = 0;
  let next = 0;
  // A few at a time: each one is an scrypt hash (libuv's pool) and a registry insert.
  async function worker(): Promise<void> {
    while (next < city.gateways.length) {
      const index = next++;
      const gateway = city.gateways[index]!;
      const existing = byId.get(gateway.id);
      if (existing !== undefined && registry.get(gateway.id)?.revoked === false) {
        devices[index] = existing;
        continue;
      }
      const { secret } = await registry.add({ id: gateway.id, kind: 'gateway', place: gateway.place });
      devices[index] = { id: gateway.id, secret, place: gateway.place, sensors: gateway.sensors };
      added++;
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker));
  if (added > 0) await writeCredentialsFile(credentialsPath, [...devices, ...known.filter((d) => !devices.some((x) => x.id === d.id))]);
  return devices;
}

/**
 * A back-end service's device (the verifier on the broker): its secret is kept in `credentialsPath`
 * (mode 0600); a lost file gets the device a new secret.
 */
export async function provisionService(registry: DeviceRegistry, id: string, credentialsPath: string): Promise<string> {
  const saved = await readFile(credentialsPath, 'utf8').then(
    (text) => (JSON.parse(text) as { id?: string; secret?: string }).secret,
    () => undefined,
  );
  const entry = registry.get(id);
  if (saved !== undefined && entry !== undefined && !entry.revoked) return saved;
  const place = { district: '', subdistrict: '', grid: '', building: '' };
  const { secret } = entry === undefined ? await registry.add({ id, kind: 'service', place }) : await registry.rotate(id);
  await writeFile(credentialsPath, JSON.stringify({ id, secret }), { mode: 0o600 });
  return secret;
}

/** The simulated venue scanners, provisioned once (kind scanner); their secrets kept like the gateways'. */
export async function provisionScanners(registry: DeviceRegistry, sites: readonly ScannerSite[], credentialsPath: string): Promise<ScannerSite[]> {
  const known = await access(credentialsPath).then(
    () => readCredentialsFile(credentialsPath),
    () => [] as DeviceCredentials[],
  );
  const byId = new Map(known.map((d) => [d.id, d]));
  const out: ScannerSite[] = [];
  const saved: DeviceCredentials[] = [];
  for (const site of sites) {
    const existing = byId.get(site.id);
    const secret =
      existing !== undefined && registry.get(site.id)?.revoked === false
        ? existing.secret
        : (registry.get(site.id) === undefined
            ? await registry.add({ id: site.id, kind: 'scanner', place: site.place })
            : await registry.rotate(site.id)
          ).secret;
    // The venue is the registered place (issue 16: the verifier records a scanner's checks there and
    // refuses any other): a scanner provisioned earlier keeps the place it was registered at.
    const place = registry.get(site.id)?.place ?? site.place;
    out.push({ ...site, password: secret, place, venue: formatPlace(place) });
    saved.push({ id: site.id, secret, place, sensors: [] });
  }
  await writeCredentialsFile(credentialsPath, saved);
  return out;
}
