import { afterEach, describe, expect, it, vi } from 'vitest';
import { withInsertDelay } from '../src/insert-delay.ts';
import type { DeadLetter, StoredBatch, Warehouse } from '../src/types.ts';

function fakeWarehouse() {
  const calls: string[] = [];
  const record = (name: string) => vi.fn(() => Promise.resolve(void calls.push(name)));
  const mocks = {
    insertBatches: record('insertBatches'),
    insertDeadLetters: record('insertDeadLetters'),
    insertPacked: record('insertPacked'),
    insertRows: record('insertRows'),
    query: vi.fn(() => Promise.resolve([])),
    close: vi.fn(() => Promise.resolve()),
  };
  // Cast: the members a test of the wrapper needs, whatever else the interface has (pack, ...).
  const warehouse = {
    backend: 'chdb',
    ...mocks,
    queryReadings: () => Promise.resolve([]),
    command: () => Promise.resolve(),
    ping: () => Promise.resolve(),
  } as unknown as Warehouse;
  return { warehouse, mocks, calls };
}

const batch: StoredBatch = { device: 'gw-1', place: { district: 'd', subdistrict: 's', grid: 'g', building: 'b' }, boot: 1, seq: 1, receivedAt: 0, readings: [] };
const letter: DeadLetter = { receivedAt: 0, device: 'gw-1', topic: 't', reason: 'PROTOCOL_ERR_SCHEMA', detail: '', payload: new Uint8Array() };

describe('withInsertDelay', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds telemetry and dead-letter inserts for the delay, then passes them on with their arguments', async () => {
    vi.useFakeTimers();
    const { warehouse, mocks, calls } = fakeWarehouse();
    const slow = withInsertDelay(warehouse, { delayMs: 2000 });
    let done = false;
    const insert = slow.insertBatches([batch]).then(() => (done = true));
    const dead = slow.insertDeadLetters([letter]);
    const packed = (slow as unknown as { insertPacked(b: unknown[]): Promise<void> }).insertPacked([]);
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls).toEqual([]);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all([insert, dead, packed]);
    expect(calls).toEqual(['insertBatches', 'insertDeadLetters', 'insertPacked']);
    expect(mocks.insertBatches).toHaveBeenCalledWith([batch]);
    expect(mocks.insertDeadLetters).toHaveBeenCalledWith([letter]);
  });

  it('passes everything else straight through', async () => {
    vi.useFakeTimers();
    const { warehouse, mocks, calls } = fakeWarehouse();
    const slow = withInsertDelay(warehouse, { delayMs: 60_000 });
    expect(slow.backend).toBe('chdb');
    await slow.insertRows('events', [{ a: 1 }]);
    await slow.query('SELECT {x:UInt8}', { x: 1 });
    await slow.close();
    expect(calls).toEqual(['insertRows']);
    expect(mocks.query).toHaveBeenCalledWith('SELECT {x:UInt8}', { x: 1 });
    expect(mocks.close).toHaveBeenCalledOnce();
  });

  it('asks a delay function at each call, so the delay can change at run time (0: at once)', async () => {
    vi.useFakeTimers();
    const { warehouse, calls } = fakeWarehouse();
    let delayMs = 0;
    const slow = withInsertDelay(warehouse, { delayMs: () => delayMs });
    await slow.insertBatches([batch]);
    expect(calls).toEqual(['insertBatches']);
    delayMs = 500;
    const held = slow.insertBatches([batch]);
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await held;
    expect(calls).toHaveLength(2);
  });

  it('refuses a delay that is not a number of ms >= 0', async () => {
    const { warehouse, mocks } = fakeWarehouse();
    await expect(withInsertDelay(warehouse, { delayMs: () => -1 }).insertBatches([batch])).rejects.toThrow(RangeError);
    await expect(withInsertDelay(warehouse, { delayMs: Number.NaN }).insertDeadLetters([letter])).rejects.toThrow(/finite number/);
    expect(mocks.insertBatches).not.toHaveBeenCalled();
  });
});
