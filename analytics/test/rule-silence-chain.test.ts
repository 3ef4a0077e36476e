import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createConditionSet } from '../src/rules/condition-set.ts';
import { createSilenceTracker } from '../src/rules/silence-tracker.ts';
import { gatewayEntry, manualClock, recordingSink } from './rule-harness.ts';


function setup() {
  const clock = manualClock(1_000_000);
  const sink = recordingSink();
  const conditions = createConditionSet({
    sink: sink.sink,
    parentOf: (kind, links, isActive) => tracker.parentOf(kind, links, isActive),
    logger: pino({ level: 'silent' }),
    maxConditions: 100,
    onDrop: () => undefined,
    now: clock.now,
    storms: { maxNewAlerts: 10, windowMs: 300_000, listMax: 20 },
    updateEveryMs: 0,
    maxPending: 1000,
    onSinkBusy: () => undefined,
  });
  const tracker = createSilenceTracker(
    {
      sensorSilent: [{ name: 'silent', title: 'Silent', kind: 'sensor_silent', after: '1m', severity: 'warning', verifyWindows: 3 }],
      pipelineBacklog: {
        name: 'pipe',
        title: 'Pipeline',
        kind: 'pipeline_backlog',
        maxLagMs: 30_000,
        for: '10s',
        staleAfter: '5m',
        severity: 'critical',
        verifyWindows: 3,
      },
    },
    { maxSensors: 10, maxSensorsPerDevice: 10, groupAt: 3, groupListMax: 20, maxGateways: 10, maxGrids: 10, maxPipelines: 2 },
    { conditions, now: clock.now, onDrop: () => undefined, onEvaluations: () => undefined },
  );
  const tick = async () => {
    tracker.evaluate();
    conditions.flush();
    await conditions.settled();
  };
  return { clock, sink, conditions, tracker, tick };
}

describe('pipeline backlog over silence', () => {
  it('fires when the oldest pending reading is older than maxLagMs for `for`, suppressing silences, and lets them go when it recovers', async () => {
    const { clock, sink, tracker, tick, conditions } = setup();
    tracker.sawBatch(gatewayEntry('gw-1', 'pudong/pudong-s01/g001'), [{ sensor: 'a', metric: 'pm25' }]);
    tracker.sawPipeline({ instance: 'ingest-1', online: true, oldestPendingMs: 20_000 });
    await tick();
    // 35 s behind: over maxLagMs since 5 s ago; `for` is 10 s.
    clock.advance(1000);
    tracker.sawPipeline({ instance: 'ingest-1', online: true, oldestPendingMs: 35_000 });
    await tick();
    expect(sink.raises('pipe:')).toEqual([]);
    clock.advance(5000);
    tracker.sawPipeline({ instance: 'ingest-1', online: true, oldestPendingMs: 41_000 });
    await tick();
    expect(sink.raises('pipe:').map((s) => s.key)).toEqual(['pipe:ingest-1']);
    clock.advance(60_000);
    tracker.sawPipeline({ instance: 'ingest-1', online: true, oldestPendingMs: 90_000 });
    await tick();
    expect(sink.raises('silent:').map((s) => [s.key, s.parentKey])).toEqual([['silent:gw-1/a', 'pipe:ingest-1']]);
    expect(conditions.suppressed()).toBe(1);
    tracker.sawPipeline({ instance: 'ingest-1', online: true, oldestPendingMs: 0 });
    await tick();
    expect(sink.calls.slice(-2).map((c) => (c.op === 'raise' ? [c.signal.key, c.signal.parentKey] : [c.key]))).toEqual([
      ['pipe:ingest-1'],
      ['silent:gw-1/a', undefined],
    ]);
  });

  it('an ingest that says it is offline is a pipeline condition at once', async () => {
    const { sink, tracker, tick } = setup();
    tracker.sawPipeline({ instance: 'ingest-2', online: false, oldestPendingMs: 0 });
    await tick();
    expect(sink.raises('pipe:')).toMatchObject([{ key: 'pipe:ingest-2', kind: 'pipeline_backlog', level: 'city', place: '' }]);
  });
});
