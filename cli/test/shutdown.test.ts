import { afterEach, describe, expect, it, vi } from 'vitest';
import { createShutdown } from '../src/shutdown.ts';
import { DEFAULT_STOP_DEADLINE_MS, takeStopDeadline } from '../src/stop-deadline-option.ts';

describe('shutdown steps', () => {
  afterEach(() => void vi.useRealTimers());

  it('runs the steps in reverse order, once, and says when they finished within the deadline', async () => {
    const order: string[] = [];
    const shutdown = createShutdown();
    shutdown.add(() => void order.push('store'), 'store');
    shutdown.add(() => Promise.resolve(void order.push('service')));
    const outcome = await shutdown.runWithin(1_000);
    await shutdown.run();
    expect(order).toEqual(['service', 'store']);
    expect(outcome.finished).toBe(true);
  });

  it('past the deadline names the step still running and how many are left; the steps go on', async () => {
    vi.useFakeTimers();
    let release: () => void = () => undefined;
    const ran: string[] = [];
    const shutdown = createShutdown();
    shutdown.add(() => void ran.push('store'), 'store');
    shutdown.add(() => new Promise<void>((resolve) => (release = resolve)), 'analytics');
    const outcome = shutdown.runWithin(10_000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await outcome).toMatchObject({ finished: false, step: 'analytics', left: 2 });
    expect(shutdown.current()).toBe('analytics');
    release();
    await shutdown.run();
    expect(ran).toEqual(['store']);
    expect(shutdown.current()).toBeUndefined();
  });

  it('reports each step as it finishes, in the order run, a failed one too, and the rest still run', async () => {
    let t = 0;
    const shutdown = createShutdown(() => t);
    const done: { name: string; ms: number; failed: boolean }[] = [];
    shutdown.onStepDone((step) => done.push({ ...step }));
    shutdown.add(() => void (t += 1), 'store');
    shutdown.add(() => {
      t += 5;
      throw new Error('broker already gone');
    }, 'ingest');
    shutdown.add(() => void (t += 20), 'gateways');
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    try {
      await shutdown.run();
    } finally {
      stderr.mockRestore();
    }
    expect(done).toEqual([
      { name: 'gateways', ms: 20, failed: false },
      { name: 'ingest', ms: 5, failed: true },
      { name: 'store', ms: 1, failed: false },
    ]);
  });

  it('a step without a name is named by its source', async () => {
    vi.useFakeTimers();
    const service = { stop: () => new Promise<void>(() => undefined) };
    const shutdown = createShutdown();
    shutdown.add(() => service.stop());
    const outcome = shutdown.runWithin(5);
    await vi.advanceTimersByTimeAsync(5);
    expect(await outcome).toMatchObject({ finished: false, step: expect.stringContaining('service.stop()') as string });
  });
});

describe('--stop-deadline-ms', () => {
  it('is taken out of any command\'s arguments, wins over the environment, and defaults to 10 s', () => {
    expect(takeStopDeadline(['--data', 'd', '--stop-deadline-ms', '2500', '--json'], {})).toEqual({ argv: ['--data', 'd', '--json'], deadlineMs: 2_500 });
    expect(takeStopDeadline(['--stop-deadline-ms=700'], { CITYOPS_STOP_DEADLINE_MS: '9000' })).toEqual({ argv: [], deadlineMs: 700 });
    expect(takeStopDeadline([], { CITYOPS_STOP_DEADLINE_MS: '9000' }).deadlineMs).toBe(9_000);
    expect(takeStopDeadline(['--json'], {})).toEqual({ argv: ['--json'], deadlineMs: DEFAULT_STOP_DEADLINE_MS });
    expect(DEFAULT_STOP_DEADLINE_MS).toBe(10_000);
  });

  it('refuses what is not a whole number of ms with a usage error', () => {
    for (const argv of [['--stop-deadline-ms'], ['--stop-deadline-ms', '0'], ['--stop-deadline-ms', '1.5'], ['--stop-deadline-ms=ten']]) {
      expect(() => takeStopDeadline(argv, {})).toThrow(expect.objectContaining({ code: 'CLI_ERR_USAGE' }) as Error);
    }
    expect(() => takeStopDeadline([], { CITYOPS_STOP_DEADLINE_MS: '-1' })).toThrow(/CITYOPS_STOP_DEADLINE_MS/);
  });
});
