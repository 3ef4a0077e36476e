import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createTurnQueue } from '../src/turn-queue.ts';

describe('turn queue', () => {
  it('runs at most perTurn items per turn of the event loop, first in, first out', async () => {
    const ran: number[] = [];
    const queue = createTurnQueue<number>({ perTurn: 3, maxQueued: 100 }, (n) => ran.push(n));
    for (let i = 0; i < 8; i++) expect(queue.push(i)).toBe(true);
    expect(ran).toEqual([]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(queue.size()).toBe(0);
  });

  it('ends a turn once its time budget is spent, having run at least one item', async () => {
    const perTurn: number[] = [];
    let inTurn = 0;
    const spin = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const queue = createTurnQueue<number>({ perTurn: 64, maxQueued: 100, budgetMs: 0.5 }, () => {
      inTurn++;
      spin(0.3);
    });
    for (let i = 0; i < 12; i++) queue.push(i);
    while (queue.size() > 0) {
      await nextTurn();
      perTurn.push(inTurn);
      inTurn = 0;
    }
    // 0.3 ms an item against 0.5 ms a turn: two at most (one, when the machine stretches the first).
    expect(perTurn.reduce((a, b) => a + b, 0)).toBe(12);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(2);
    expect(Math.min(...perTurn)).toBeGreaterThanOrEqual(1);
  });

  it('refuses an item beyond maxQueued and takes more once the queue drains', async () => {
    const ran: string[] = [];
    const queue = createTurnQueue<string>({ perTurn: 10, maxQueued: 2 }, (s) => ran.push(s));
    expect(queue.push('a')).toBe(true);
    expect(queue.push('b')).toBe(true);
    expect(queue.push('c')).toBe(false);
    await nextTurn();
    expect(ran).toEqual(['a', 'b']);
    expect(queue.push('d')).toBe(true);
    await nextTurn();
    expect(ran).toEqual(['a', 'b', 'd']);
  });

  it('an item pushed while the queue drains waits for a later turn', async () => {
    const ran: number[] = [];
    const queue = createTurnQueue<number>({ perTurn: 5, maxQueued: 10 }, (n) => {
      ran.push(n);
      if (n === 0) queue.push(9);
    });
    queue.push(0);
    queue.push(1);
    await nextTurn();
    expect(ran).toEqual([0, 1]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 9]);
  });

  it('stop runs nothing more and hands back what was waiting, also when called by an item', async () => {
    const ran: number[] = [];
    let rest: number[] = [];
    const queue = createTurnQueue<number>({ perTurn: 2, maxQueued: 10 }, (n) => {
      ran.push(n);
      if (n === 2) rest = queue.stop();
    });
    for (let i = 0; i < 6; i++) queue.push(i);
    await nextTurn();
    await nextTurn();
    expect(ran).toEqual([0, 1, 2]);
    expect(rest).toEqual([3, 4, 5]);
    expect(queue.push(7)).toBe(false);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2]);
    expect(queue.stop()).toEqual([]);
  });
});
