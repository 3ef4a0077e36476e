import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAlertLifecycle, createAnalyticsMetrics, parseAnalyticsConfig } from '../src/index.ts';
import { HOUR, MINUTE, pmSignal } from './alert-lifecycle-fixtures.ts';

/** vi.waitFor's default (1 s) is short on a loaded 2-core machine; an event that never comes still fails. */
const SETTLED = { timeout: 15_000, interval: 20 };

let dir: string;
let wh: Warehouse;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-alert-lifecycle-stop-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
});

afterAll(async () => {
  await wh?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The warehouse, with each alert-event insert held until released once `hold` is on: a store slower than a storm. */
function heldInserts(inner: Warehouse) {
  const waiting: (() => void)[] = [];
  let hold = false;
  let inserts = 0;
  const warehouse = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'insertRows') return Reflect.get(target, prop, receiver) as unknown;
      return async (...args: Parameters<Warehouse['insertRows']>) => {
        inserts++;
        if (hold) await new Promise<void>((resolve) => waiting.push(resolve));
        return target.insertRows(...args);
      };
    },
  });
  return { warehouse, waiting, inserts: () => inserts, hold: () => void (hold = true), releaseOne: () => waiting.shift()?.() };
}

describe('alert lifecycle: a bounded stop (issue 17)', () => {
  it('stops during an escalation round over many alerts after the transition in flight, not the whole round', async () => {
    const t0 = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
    let clock = t0;
    const store = heldInserts(wh);
    const lifecycle = createAlertLifecycle(parseAnalyticsConfig({ alerts: { maxAlerts: 1000 } }).alerts, {
      warehouse: store.warehouse,
      logger: pino({ level: 'silent' }),
      metrics: createAnalyticsMetrics().alerts,
      now: () => clock,
    });
    await lifecycle.start();
    for (let g = 0; g < 40; g++) await lifecycle.raise(pmSignal(`g${String(100 + g)}`, t0));
    expect(lifecycle.list({ limit: 1000, state: 'dispatched' })).toHaveLength(40);
    // Nobody accepted them: every one is due to escalate; each escalation is one held insert.
    clock = t0 + 16 * MINUTE;
    store.hold();
    const before = store.inserts();
    const round = lifecycle.escalateNow();
    await vi.waitFor(() => expect(store.waiting).toHaveLength(1), SETTLED);
    const stopping = lifecycle.stop();
    store.releaseOne();
    await stopping;
    await round;
    // The escalation in flight finished; the 39 others were left to the next start's round.
    expect(store.inserts() - before).toBe(1);
    expect(store.waiting).toHaveLength(0);
  });
});
