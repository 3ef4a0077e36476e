import { PassThrough } from 'node:stream';
import type { Reading } from '@cityops/protocol';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import {
  METRICS,
  SENSOR_MODELS,
  createJsonLinesSource,
  createSeededRandom,
  createSimulatedSource,
  isAlarmValue,
  type ReadingSource,
} from '../src/index.ts';

const logger = pino({ level: 'silent' });

async function collect(source: ReadingSource<unknown>, max = Number.POSITIVE_INFINITY): Promise<Reading[]> {
  const out: Reading[] = [];
  for await (const r of source) {
    out.push(r);
    if (out.length >= max) break;
  }
  return out;
}

describe('JSON lines source', () => {
  it('turns good lines into readings and counts, logs and skips bad ones', async () => {
    const input = new PassThrough();
    const source = createJsonLinesSource(input, { maxLineBytes: 100 }, { now: () => 1_764_000_000_123, logger });
    const readings = collect(source);
    input.write('{"sensor":"pm-1","metric":"pm25","value":35.5,"ts":1764000000000}\n');
    input.write('{"sensor":"pm-1","metric":"pm25","val'); // a line split across chunks
    input.write('ue":36}\n\n   \n');
    input.write('not json\n');
    input.write('{"sensor":"pm-1","metric":"PM 2.5","value":1}\n'); // schema: bad metric
    input.write('{"sensor":"pm-1","metric":"pm25","value":"high"}\n'); // schema: value not a number
    input.write('{"sensor":"pm-1","metric":"pm25","value":1e999}\n'); // Infinity
    input.write(`{"sensor":"${'x'.repeat(200)}`); // over maxLineBytes, without a newline yet
    input.write(`${'y'.repeat(50)}"}\n`);
    input.write('{"sensor":"cover-1","metric":"manhole_tilt","value":30,"alarm":true}\r\n');
    input.end('{"sensor":"t-1","metric":"temperature","value":-3.5}'); // last line, no newline
    expect(await readings).toEqual([
      { sensor: 'pm-1', metric: 'pm25', value: 35.5, ts: 1764000000000 },
      { sensor: 'pm-1', metric: 'pm25', value: 36, ts: 1_764_000_000_123 },
      { sensor: 'cover-1', metric: 'manhole_tilt', value: 30, alarm: true, ts: 1_764_000_000_123 },
      { sensor: 't-1', metric: 'temperature', value: -3.5, ts: 1_764_000_000_123 },
    ]);
    expect(source.stats()).toEqual({ lines: 9, readings: 4, badLines: 5 });
  });

  it('logs a bad line with the AGENT_ERR_SOURCE_LINE code', async () => {
    const lines: unknown[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as unknown) });
    const input = new PassThrough();
    const source = createJsonLinesSource(input, {}, { logger: capture });
    const done = collect(source);
    input.end('{"sensor":1}\n');
    expect(await done).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ err: { code: 'AGENT_ERR_SOURCE_LINE' } });
  });

  it('ends when stopped while waiting for input', async () => {
    const input = new PassThrough();
    const source = createJsonLinesSource(input, {}, { logger });
    const done = collect(source);
    input.write('{"sensor":"a","metric":"noise","value":50,"ts":1}\n');
    await vi.waitFor(() => expect(source.stats().readings).toBe(1));
    await source.stop();
    expect(await done).toHaveLength(1);
  });
});

describe('sensor models and the simulated source', () => {
  const sensors = METRICS.map((metric, i) => ({ id: `s-${i}`, metric }));

  it('produces the same readings for the same seed and clock', async () => {
    const run = (seed: number) => {
      let t = Date.UTC(2026, 0, 5, 0, 0);
      const source = createSimulatedSource(
        { sensors, intervalMs: 60_000, limit: METRICS.length * 30 },
        {
          random: createSeededRandom(seed),
          now: () => t,
          // A virtual clock: each interval passes at once.
          timers: {
            setTimeout: (fn, ms) => {
              t += ms;
              queueMicrotask(fn);
              return 0;
            },
            clearTimeout: () => undefined,
            setInterval: () => 0,
            clearInterval: () => undefined,
          },
        },
      );
      return collect(source);
    };
    const a = await run(42);
    expect(a).toHaveLength(METRICS.length * 30);
    expect(await run(42)).toEqual(a);
    expect(await run(43)).not.toEqual(a);
    for (const r of a) {
      const model = SENSOR_MODELS[r.metric as keyof typeof SENSOR_MODELS];
      expect(r.value).toBeGreaterThanOrEqual(model.min);
      expect(r.value).toBeLessThanOrEqual(model.max);
      expect(Number.isFinite(r.value)).toBe(true);
    }
  });

  it('follows daily cycles: warmer mid-afternoon than before dawn, more traffic at rush hour than at night', () => {
    const mean = (metric: 'temperature' | 'traffic_flow', hourLocal: number) => {
      const random = createSeededRandom(9);
      let sum = 0;
      for (let s = 0; s < 50; s++) {
        const sample = SENSOR_MODELS[metric].createSampler(random);
        sum += sample(Date.UTC(2026, 5, 1, hourLocal - 8, 0)); // Shanghai is UTC+8
      }
      return sum / 50;
    };
    expect(mean('temperature', 14)).toBeGreaterThan(mean('temperature', 4) + 4);
    expect(mean('traffic_flow', 8)).toBeGreaterThan(mean('traffic_flow', 3) * 5);
  });

  it('marks manhole tilt above the threshold as alarm-class', async () => {
    const source = createSimulatedSource(
      { sensors: [{ id: 'cover-1', metric: 'manhole_tilt' }], ratePerSecond: 1000, tickMs: 1, limit: 50, eventProbability: 1 },
      { random: createSeededRandom(1) },
    );
    const readings = await collect(source);
    expect(readings).toHaveLength(50);
    expect(readings.every((r) => r.alarm === true && r.value > 10)).toBe(true);
    expect(source.stats()).toMatchObject({ readings: 50, alarms: 50 });
    expect(isAlarmValue('manhole_tilt', 9.9)).toBe(false);
    expect(isAlarmValue('pm25', 900)).toBe(false);
  });

  it('reports every config problem at once', () => {
    let error: unknown;
    try {
      createSimulatedSource({ sensors: [{ id: 'bad id', metric: 'smell' as never }], intervalMs: 0 });
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'AGENT_ERR_CONFIG' });
    const message = (error as Error).message;
    expect(message).toContain('/sensors/0/id must match pattern');
    expect(message).toContain('/sensors/0/metric must be equal to one of the allowed values');
    expect(message).toContain('/intervalMs must be >= 1');
  });
});
