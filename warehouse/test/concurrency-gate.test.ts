import { describe, expect, it } from 'vitest';
import { createConcurrencyGate } from '../src/concurrency-gate.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('concurrency gate', () => {
  it('runs at most maxRunning at once, in arrival order, and refuses beyond maxQueued without running the task', async () => {
    const gate = createConcurrencyGate({ maxRunning: 2, maxQueued: 2 }, () => Object.assign(new Error('busy'), { code: 'BUSY' }));
    const blockers = Array.from({ length: 5 }, deferred);
    const started: number[] = [];
    const runs = blockers.map((b, i) =>
      gate.run(async () => {
        started.push(i);
        await b.promise;
        return i;
      }),
    );
    // The fifth found two running and two waiting: refused at once, never started.
    await expect(runs[4]).rejects.toMatchObject({ code: 'BUSY' });
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([gate.running(), gate.queued()]).toEqual([2, 2]);
    blockers[1]!.resolve();
    await expect(runs[1]).resolves.toBe(1);
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    blockers[0]!.resolve();
    blockers[2]!.resolve();
    blockers[3]!.resolve();
    await expect(Promise.all(runs.slice(0, 4))).resolves.toEqual([0, 1, 2, 3]);
    expect([gate.running(), gate.queued()]).toEqual([0, 0]);
  });

  it('frees the turn of a task that fails, and passes its error on', async () => {
    const gate = createConcurrencyGate({ maxRunning: 1, maxQueued: 0 }, () => new Error('busy'));
    await expect(gate.run(() => Promise.reject(new Error('scrypt failed')))).rejects.toThrow('scrypt failed');
    await expect(gate.run(() => Promise.resolve('next'))).resolves.toBe('next');
    // A task that throws before returning a promise is a rejection too, and frees its turn.
    await expect(gate.run(() => { throw new Error('sync'); })).rejects.toThrow('sync');
    expect(gate.running()).toBe(0);
  });
});
