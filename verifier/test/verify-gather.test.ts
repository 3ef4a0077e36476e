import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMicroBatcher } from '../src/micro-batcher.ts';
import type { Verdict } from '../src/verdict.ts';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, dccVaccination, MALFORMED, trustEntries } from './code-fixtures.ts';
import { createDataDir } from './service-harness.ts';

const logger = pino({ level: 'silent' });
const issuers = createTestIssuers();
let data: Awaited<ReturnType<typeof createDataDir>>;

beforeAll(async () => {
  data = await createDataDir('cityops-verifier-gather-');
  await data.write('trust.json', trustEntries(issuers));
});
afterAll(async () => {
  await data?.remove();
});

/** Batches sent to the pool so far, and the items they carried (cityops_verifier_pool_batch_items). */
async function poolBatches(service: VerifierService): Promise<{ batches: number; items: number }> {
  const metric = await service.metrics.batchItems.get();
  const value = (name: string) => metric.values.find((v) => v.metricName === name)?.value ?? 0;
  return { batches: value('cityops_verifier_pool_batch_items_count'), items: value('cityops_verifier_pool_batch_items_sum') };
}

async function gauge(service: VerifierService, name: string): Promise<number | undefined> {
  return (await service.metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;
}

/** A promise resolved from outside: a run the test finishes when it wants. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('micro-batcher holding while the runner is backed up', () => {
  it('keeps gathering past its turn while hold() says so, and sends the batch when a run settles', async () => {
    const runs: { items: number[]; done: ReturnType<typeof deferred<number[]>> }[] = [];
    let backedUp = false;
    const batcher = createMicroBatcher<string, number, number>(
      { maxItems: 100, maxDelayMs: 0 },
      {
        run: (_key, items) => {
          const done = deferred<number[]>();
          runs.push({ items: [...items], done });
          return done.promise;
        },
        hold: () => backedUp,
      },
    );
    const first = batcher.push('k', 1);
    await new Promise<void>((r) => setImmediate(r));
    expect(runs.map((r) => r.items)).toEqual([[1]]);

    backedUp = true;
    const later: Promise<number>[] = [];
    // Items over several turns: the batch is due after the first, but held.
    for (let turn = 0; turn < 3; turn++) {
      later.push(batcher.push('k', 10 + turn));
      await new Promise<void>((r) => setImmediate(r));
    }
    expect(runs).toHaveLength(1);
    expect(batcher.open).toBe(3);

    runs[0]!.done.resolve([100]);
    expect(await first).toBe(100);
    expect(runs.map((r) => r.items)).toEqual([[1], [10, 11, 12]]);
    runs[1]!.done.resolve([1, 2, 3]);
    expect(await Promise.all(later)).toEqual([1, 2, 3]);
  });

  it('never holds beyond maxItems, and never without a run of its own out', async () => {
    const runs: number[][] = [];
    const pending: ReturnType<typeof deferred<number[]>>[] = [];
    const batcher = createMicroBatcher<string, number, number>(
      { maxItems: 4, maxDelayMs: 0 },
      {
        run: (_key, items) => {
          runs.push([...items]);
          const done = deferred<number[]>();
          pending.push(done);
          return done.promise;
        },
        hold: () => true,
      },
    );
    // No run of ours is out: a hold would never be released, so the batch goes at the end of its turn.
    void batcher.push('k', 0);
    await new Promise<void>((r) => setImmediate(r));
    expect(runs).toEqual([[0]]);
    // Held from now on, but a full batch leaves at once.
    for (let i = 1; i <= 9; i++) void batcher.push('k', i);
    expect(runs).toEqual([[0], [1, 2, 3, 4], [5, 6, 7, 8]]);
    await new Promise<void>((r) => setImmediate(r));
    expect(batcher.open).toBe(1);
    // Still backed up with two runs out: held; the last run of ours back, it goes.
    pending[0]!.resolve([0]);
    pending[1]!.resolve([1, 2, 3, 4]);
    await Promise.all([pending[0]!.promise, pending[1]!.promise]);
    expect(runs).toHaveLength(3);
    pending[2]!.resolve([5, 6, 7, 8]);
    await pending[2]!.promise;
    expect(runs.at(-1)).toEqual([9]);
    expect(batcher.open).toBe(0);
  });
});

describe('single requests gathered into pool batches', () => {
  let service: VerifierService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  function start(pool: object): Promise<unknown> {
    service = createVerifierService(
      { http: { port: 0, verifyAccess: 'open' }, trust: { source: data.path('trust.json') }, pool, cache: { maxEntries: 0 } },
      { logger },
    );
    return service.start();
  }

  it('sends the single requests of one turn as one pool task, and answers each from its own slot', async () => {
    await start({ threads: 1, batchMaxItems: 64 });
    const before = await poolBatches(service!);
    const green = Array.from({ length: 6 }, (_, i) => issuers.health.issueHealthCode({ subject: `p-${i}`, colour: 'green' }));
    const requests = [
      ...green.slice(0, 3).map((qr) => ({ qr, expect: { verdict: 'allow', reason: 'OK', colour: 'green' } })),
      { qr: MALFORMED[2]!.qr, expect: { verdict: 'deny', reason: MALFORMED[2]!.reason } },
      { qr: issuers.health.issueHealthCode({ subject: 'p-red', colour: 'red' }), expect: { verdict: 'deny', colour: 'red' } },
      { qr: issuers.rogue.issueHealthCode({ subject: 'p-rogue', colour: 'green' }), expect: { verdict: 'deny', reason: 'UNKNOWN_KEY' } },
      { qr: issuers.dcc.issueDcc({ payload: dccVaccination() }), expect: { verdict: 'allow', kind: 'eu-dcc' } },
      ...green.slice(3).map((qr) => ({ qr, expect: { verdict: 'allow', reason: 'OK' } })),
    ];
    const verdicts = await Promise.all(requests.map((r) => service!.verify({ qr: r.qr })));
    verdicts.forEach((v, i) => expect(v).toMatchObject(requests[i]!.expect));
    const after = await poolBatches(service!);
    expect(after.batches - before.batches).toBe(1);
    expect(after.items - before.items).toBe(requests.length);
  });

  it('splits a turn at pool.batchMaxItems', async () => {
    await start({ threads: 1, batchMaxItems: 4 });
    const before = await poolBatches(service!);
    const codes = Array.from({ length: 10 }, (_, i) => issuers.health.issueHealthCode({ subject: `q-${i}`, colour: 'green' }));
    const verdicts = await Promise.all(codes.map((qr) => service!.verify({ qr })));
    expect(verdicts.every((v) => v.reason === 'OK')).toBe(true);
    const after = await poolBatches(service!);
    expect(after.batches - before.batches).toBe(3);
    expect(after.items - before.items).toBe(10);
  });

  it('gathers requests of later turns into one batch while a batch waits for the thread', async () => {
    await start({ threads: 1, concurrentTasksPerWorker: 1, batchMaxItems: 1000 });
    const dcc = issuers.dcc.issueDcc({ payload: dccVaccination() });
    const before = await poolBatches(service!);
    // A full batch keeps the only thread busy; the next one waits in the pool's queue.
    const busy = Promise.all(Array.from({ length: 1000 }, () => service!.verify({ qr: dcc })));
    const queued = service!.verify({ qr: dcc });
    await new Promise<void>((r) => setImmediate(r));
    expect(await gauge(service!, 'cityops_verifier_pool_queue_batches')).toBe(1);
    // Five requests in five turns: without holding, five more tasks.
    const later: Promise<Verdict>[] = [];
    for (let turn = 0; turn < 5; turn++) {
      later.push(service!.verify({ qr: issuers.health.issueHealthCode({ subject: `r-${turn}`, colour: 'green' }) }));
      await new Promise<void>((r) => setImmediate(r));
    }
    expect(await gauge(service!, 'cityops_verifier_pool_open_batch_items')).toBe(5);
    expect((await busy).every((v) => v.reason === 'OK')).toBe(true);
    expect(await queued).toMatchObject({ reason: 'OK' });
    for (const verdict of await Promise.all(later)) expect(verdict).toMatchObject({ verdict: 'allow', reason: 'OK' });
    const after = await poolBatches(service!);
    expect(after.batches - before.batches).toBe(3);
    expect(after.items - before.items).toBe(1006);
  });
});
