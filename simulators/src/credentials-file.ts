import { chmod, readFile, writeFile } from 'node:fs/promises';
import type { Place } from '@cityops/protocol';

/** A provisioned simulated device: what a separate simulator process needs to connect. */
export interface DeviceCredentials {
  readonly id: string;
  readonly secret: string;
  readonly place: Place;
  readonly sensors: readonly { readonly id: string; readonly metric: string }[];
}

/** The credentials of a provisioned city, kept beside its data (mode 0600: it holds secrets). */
export async function writeCredentialsFile(path: string, devices: readonly DeviceCredentials[]): Promise<void> {
  await writeFile(path, JSON.stringify({ version: 1, devices }, null, 1), { mode: 0o600 });
  await chmod(path, 0o600);
}

export async function readCredentialsFile(path: string): Promise<DeviceCredentials[]> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as { version?: number; devices?: DeviceCredentials[] };
  if (parsed.version !== 1 || !Array.isArray(parsed.devices)) throw new Error(`${path} is not a cityops credentials file`);
  return parsed.devices;
}
