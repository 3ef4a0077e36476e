import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { createDeviceRegistry, type Warehouse } from '@cityops/warehouse';
import { provisionService } from './provision-city.ts';

/**
 * A service device's MQTT secret, for a service run on its own (`cityops verifier`, `cityops
 * analytics`): provisioned in the store's device registry on first start, kept in `credentialsPath`
 * (mode 0600) and reused afterwards; rotated if the file is lost.
 */
export async function serviceSecret(warehouse: Warehouse, id: string, credentialsPath: string): Promise<string> {
  const registry = createDeviceRegistry({ refreshMs: 60_000 }, { warehouse });
  await registry.start();
  try {
    await mkdir(dirname(credentialsPath), { recursive: true });
    return await provisionService(registry, id, credentialsPath);
  } finally {
    await registry.stop();
  }
}

/**
 * A random secret kept in a file shared by several processes (the verifiers' pseudonym key): made
 * by whichever starts first, atomically (write aside, then link, which fails if the file exists),
 * read by the others.
 */
export async function sharedSecretFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dirname(path), { recursive: true });
  const aside = `${path}.${process.pid}.tmp`;
  await writeFile(aside, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  try {
    await link(aside, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await rm(aside, { force: true });
  }
  return (await readFile(path, 'utf8')).trim();
}
