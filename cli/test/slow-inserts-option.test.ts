import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Warehouse } from '@cityops/warehouse';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { slowInsertsFrom } from '../src/slow-inserts-option.ts';

// Only the members the option touches; the wrapper's own behaviour is tested in warehouse/test.
const warehouse = { backend: 'chdb', insertBatches: () => Promise.resolve() } as unknown as Warehouse;

describe('--slow-inserts-ms / --slow-inserts-file', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('leaves the warehouse as it is without either option', () => {
    const onDelay = vi.fn();
    expect(slowInsertsFrom({}, warehouse, onDelay).warehouse).toBe(warehouse);
    expect(onDelay).not.toHaveBeenCalled();
  });

  it('refuses a delay that is not a whole number of ms', () => {
    expect(() => slowInsertsFrom({ 'slow-inserts-ms': '2s' }, warehouse, () => undefined)).toThrow(/not a whole number/);
  });

  it('takes the file\'s delay at start (a missing file: --slow-inserts-ms) and each change of it, counted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cityops-slow-inserts-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'delay-ms');
    const seen: [number, number][] = [];
    const option = slowInsertsFrom({ 'slow-inserts-ms': '7', 'slow-inserts-file': file }, warehouse, (ms, change) => seen.push([ms, change]));
    cleanup.push(() => option.stop());
    expect(option.warehouse).not.toBe(warehouse);
    expect(seen).toEqual([[7, 0]]);
    await writeFile(file, '2000\n');
    await vi.waitFor(() => expect(seen).toContainEqual([2000, 1]), { timeout: 5000 });
    await writeFile(file, '0');
    await vi.waitFor(() => expect(seen).toContainEqual([0, 2]), { timeout: 5000 });
    expect(seen).toEqual([[7, 0], [2000, 1], [0, 2]]);
  });
});
