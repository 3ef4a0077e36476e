import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlace } from '@cityops/protocol';
import { createDeviceRegistry, openWarehouse, type DeviceRegistry, type Warehouse } from '../src/index.ts';

describe('device registry: secret checks under a login flood', () => {
  let dir: string;
  let warehouse: Warehouse;
  let registry: DeviceRegistry;
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-registry-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    registry = createDeviceRegistry({ refreshMs: 3_600_000, maxConcurrentSecretChecks: 1, maxQueuedSecretChecks: 1 }, { warehouse });
    await registry.start();
    for (const id of ['gw-a', 'gw-b', 'gw-c', 'gw-d']) {
      secrets.set(id, (await registry.add({ id, kind: 'gateway', place: parsePlace('huangpu/nanjing-east/g001') })).secret);
    }
  });
  afterAll(async () => {
    await registry?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs one scrypt at a time, queues one, and answers the rest busy (503) without checking them', async () => {
    // Four wrong secrets at once (four addresses guessing): one checked, one waiting, two refused at once.
    const outcomes = await Promise.allSettled(['gw-a', 'gw-b', 'gw-c', 'gw-d'].map((id) => registry.authenticate(id, 'wrong-secret-0123456789abcdefgh')));
    const codes = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string; statusCode: number }) : undefined));
    expect(codes.map((c) => c?.code)).toEqual(['INGEST_ERR_BAD_CREDENTIALS', 'INGEST_ERR_BAD_CREDENTIALS', 'INGEST_ERR_REGISTRY_BUSY', 'INGEST_ERR_REGISTRY_BUSY']);
    expect(codes[2]!.statusCode).toBe(503);
    // The turn is free again: a device with its right secret gets in, and then costs no scrypt.
    await expect(registry.authenticate('gw-c', secrets.get('gw-c')!)).resolves.toMatchObject({ id: 'gw-c' });
    await expect(Promise.all(['gw-c', 'gw-c', 'gw-c'].map((id) => registry.authenticate(id, secrets.get(id)!)))).resolves.toHaveLength(3);
  });

  it('shares one check among simultaneous logins of one device, so they take one turn', async () => {
    // Five at once for gw-d with its secret: one scrypt, no queue needed, none refused.
    const all = await Promise.all(Array.from({ length: 5 }, () => registry.authenticate('gw-d', secrets.get('gw-d')!)));
    expect(all.map((d) => d.id)).toEqual(['gw-d', 'gw-d', 'gw-d', 'gw-d', 'gw-d']);
  });
});
