import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AlertSignal, AlertSink } from '../src/alerts/alert-signal.ts';
import { createConditionSet, type BaseSignal } from '../src/rules/condition-set.ts';

function signal(n: number): BaseSignal {
  return { key: `sensor_silent:gw/s${n}`, rule: 'silent', kind: 'sensor_silent', severity: 'warning', place: 'd/s/g', level: 'grid', subject: `gw/s${n}`, summary: 'silent', at: 1_000, verification: { by: 'condition', windowMs: 60_000, windows: 3 } };
}

/** A sink whose every raise waits until released: a slow store under an alert storm. */
function heldSink() {
  const raised: string[] = [];
  const waiting: (() => void)[] = [];
  const sink: AlertSink = {
    raise: (s: AlertSignal) =>
      new Promise<void>((resolve) => {
        raised.push(s.key);
        waiting.push(resolve);
      }),
    clear: () => Promise.resolve(),
  };
  return { sink, raised, releaseOne: () => waiting.shift()?.() };
}

describe('condition set: close (issue 17, a bounded stop)', () => {
  it('drops the sink calls not yet begun, waits only for the one in flight, and counts the drops', async () => {
    const held = heldSink();
    const conditions = createConditionSet({
      sink: held.sink, parentOf: () => undefined, logger: pino({ level: 'silent' }), maxConditions: 100_000,
      onDrop: () => undefined,
      now: () => 1_000,
      // No storm folding and room for the whole backlog: this test is about the queue at stop.
      storms: { maxNewAlerts: 100_000, windowMs: 300_000, listMax: 5 },
      updateEveryMs: 10_000,
      maxPending: 100_000,
      onSinkBusy: () => undefined,
    });
    for (let i = 0; i < 10_000; i++) conditions.activate(signal(i));
    conditions.flush();
    await Promise.resolve();
    expect(held.raised).toHaveLength(1);
    const closing = conditions.close();
    let closed = false;
    void closing.then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false); // the raise in flight is not abandoned halfway
    held.releaseOne();
    expect(await closing).toBe(9_999);
    expect(held.raised).toHaveLength(1);
    // After close, what the engine still decides is dropped at once, and counted.
    conditions.activate(signal(20_000));
    conditions.flush();
    await conditions.settled();
    expect(held.raised).toHaveLength(1);
    expect(await conditions.close()).toBe(10_000);
  });
});
