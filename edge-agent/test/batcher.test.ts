import type { Reading } from '@cityops/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import { createBatcher } from '../src/batcher.ts';
import type { Lane } from '../src/index.ts';
import { alarm, routine } from './agent-fixture.ts';

describe('batcher', () => {
  let batches: { lane: Lane; readings: Reading[] }[];
  beforeEach(() => {
    vi.useFakeTimers();
    batches = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const batcher = () =>
    createBatcher({ maxReadings: 3, maxDelayMs: 1000 }, { timers: systemTimers, onBatch: (lane, readings) => batches.push({ lane, readings }) });

  it('closes a routine batch when full, or when its first reading waited maxDelayMs', () => {
    const b = batcher();
    for (let i = 0; i < 4; i++) b.add(routine(i));
    expect(batches.map((x) => x.readings.length)).toEqual([3]);
    vi.advanceTimersByTime(999);
    expect(batches).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(batches.map((x) => x.readings.length)).toEqual([3, 1]);
    expect(b.size).toBe(0);
  });

  it('closes alarm batches at once, in a lane of their own', async () => {
    const b = batcher();
    b.add(routine(0));
    b.add(alarm(1));
    b.add(alarm(2));
    await Promise.resolve(); // the alarm flush runs as a microtask: same-tick alarms share a batch
    expect(batches).toEqual([{ lane: 'alarm', readings: [alarm(1), alarm(2)] }]);
    expect(b.size).toBe(1);
    b.flush();
    expect(batches.at(-1)).toEqual({ lane: 'routine', readings: [routine(0)] });
  });

  it('stops its timer on stop()', () => {
    const b = batcher();
    b.add(routine(0));
    b.stop();
    vi.advanceTimersByTime(5000);
    expect(batches).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
