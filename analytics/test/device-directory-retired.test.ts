import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlace } from '@cityops/protocol';
import { createDeviceRegistry, createSensorSets, openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createDeviceDirectory } from '../src/rules/device-directory.ts';

/** Issue 17: the rules learn which sensors an operator decommissioned, so that their silence is not news. */
describe('device directory: decommissioned sensors', () => {
  let dir: string;
  let warehouse: Warehouse;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-directory-retired-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
  });
  afterAll(async () => {
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads each device retired sensors on start and on refresh, keeping the set while nothing changes', async () => {
    const registry = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse });
    const sensors = createSensorSets({ defaultMaxPerDevice: 256, maxMetricsPerDevice: 32, flushMs: 3_600_000, flushBatchRows: 5000, refreshMs: 3_600_000 }, { warehouse });
    await registry.start();
    await sensors.start();
    for (const id of ['gw-r1', 'gw-r2']) await registry.add({ id, kind: 'gateway', place: parsePlace('pudong/s01/g001') });
    await sensors.declare('gw-r1', ['a', 'b', 'c'].map((id) => ({ id, metric: 'water_level' })));
    await sensors.decommission('gw-r1', 'b');
    const newlyRetired: string[] = [];
    const directory = createDeviceDirectory(
      { refreshMs: 3_600_000, unknownRefreshMs: 1000 },
      { warehouse, now: Date.now, logger: pino({ level: 'silent' }), onRetired: (e, sensor) => newlyRetired.push(`${e.id}/${sensor}`) },
    );
    await directory.start();
    try {
      const entry = directory.get('gw-r1')!;
      expect([...entry.retired]).toEqual(['b']);
      expect(directory.get('gw-r2')!.retired.size).toBe(0);
      const before = entry.retired;
      await directory.refresh();
      expect(entry.retired).toBe(before);
      await sensors.decommission('gw-r1', 'c');
      await directory.refresh();
      expect([...entry.retired].sort()).toEqual(['b', 'c']);
      // What start() loaded was never news; the refresh tells the engine of 'c' only.
      expect(newlyRetired).toEqual(['gw-r1/c']);
      // Recommissioned: its silence is news again.
      await sensors.declare('gw-r1', [{ id: 'b', metric: 'water_level' }]);
      await directory.refresh();
      expect([...entry.retired]).toEqual(['c']);
    } finally {
      await directory.stop();
      await sensors.stop();
      await registry.stop();
    }
  });
});
