import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePlace } from '@cityops/protocol';
import { createDeviceRegistry, openWarehouse } from '@cityops/warehouse';
import { provisionScanners } from '../src/provision-city.ts';

describe('cityops up: the simulated scanners', () => {
  const dir = mkdtemp(join(tmpdir(), 'cityops-provision-scanners-'));
  afterAll(async () => rm(await dir, { recursive: true, force: true }));

  it("send their registered place as their venue (issue 16), also when registered earlier elsewhere than today's plan", async () => {
    const warehouse = await openWarehouse({ backend: 'chdb', path: join(await dir, 'warehouse') });
    const registry = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse });
    await registry.start();
    try {
      await registry.add({ id: 'scn-00001', kind: 'scanner', place: parsePlace('huangpu/nanjing-east/g001/b01') });
      const planned = (id: string, at: string) => ({ id, venue: at, place: parsePlace(at) });
      const sites = await provisionScanners(
        registry,
        [planned('scn-00001', 'pudong/pudong-s01/g001/b01'), planned('scn-00002', 'xuhui/xujiahui/g002/b03')],
        join(await dir, 'scanner-credentials.json'),
      );
      expect(sites.map((s) => [s.id, s.venue])).toEqual([
        ['scn-00001', 'huangpu/nanjing-east/g001/b01'],
        ['scn-00002', 'xuhui/xujiahui/g002/b03'],
      ]);
      expect(registry.get('scn-00002')?.place).toEqual(parsePlace('xuhui/xujiahui/g002/b03'));
      // Each can authenticate with the secret it was given.
      for (const s of sites) expect((await registry.authenticate(s.id, s.password!)).kind).toBe('scanner');
    } finally {
      await registry.stop();
      await warehouse.close();
    }
  });
});
