import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../test-peers/free-port.ts';
import { createGatewayAgent, createSeededRandom, type GatewayAgent, type Timers } from '../src/index.ts';
import { DEVICE, createAgentFixture, routine, segmentsOnDisk } from './agent-fixture.ts';
import { startAedesBroker, type TestBroker } from './aedes-broker.ts';

// Fault: the broker is unreachable for many minutes. The agent's timers run on a manual clock, so
// the outage lasts 15 simulated minutes of production backoff (0.5 s growing to 60 s, jittered) in
// about three seconds of real time; every reconnect attempt is a real, refused TCP connection. The
// journal grows on disk the whole time; when the broker is back every batch arrives exactly once.
// (outage-replay.test.ts covers a short outage with alarms first; crash-and-outage.test.ts one under ingest.)

const OUTAGE_MS = 15 * 60_000;

/** setTimeout/clearTimeout on a manual clock until `real()`; then pending and new timers run for real. */
function manualTimers(start: number) {
  let clock = start;
  let isReal = false;
  let nextId = 1;
  const pending = new Map<number, { fn: () => void; at: number }>();
  const moved = new Map<number, NodeJS.Timeout>();
  const timers: Timers = {
    setTimeout(fn, ms) {
      if (isReal) return setTimeout(fn, ms);
      const id = nextId++;
      pending.set(id, { fn, at: clock + ms });
      return id;
    },
    clearTimeout(handle) {
      if (typeof handle === 'number') {
        pending.delete(handle);
        clearTimeout(moved.get(handle));
        moved.delete(handle);
      } else clearTimeout(handle as NodeJS.Timeout | undefined);
    },
    setInterval: (fn, ms) => setInterval(fn, ms),
    clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
  };
  return {
    timers,
    now: () => clock,
    /** Moves the clock on and runs what fell due, in order. */
    advance(ms: number) {
      clock += ms;
      for (const [id, t] of [...pending].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at > clock) break;
        pending.delete(id);
        t.fn();
      }
    },
    real() {
      isReal = true;
      for (const [id, t] of pending) moved.set(id, setTimeout(t.fn, Math.max(0, t.at - clock)));
      pending.clear();
    },
  };
}

const fixture = createAgentFixture();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await fixture.cleanup();
});

describe('fault: the broker unreachable for minutes', () => {
  it('keeps retrying with bounded backoff for 15 simulated minutes, journals on disk, then delivers every batch exactly once', async () => {
    const port = await freePort();
    const journalDir = await fixture.journalDir();
    const clock = manualTimers(1_764_000_000_000);
    const agent: GatewayAgent = createGatewayAgent(
      {
        deviceId: DEVICE,
        journalDir,
        mqtt: { url: `mqtt://127.0.0.1:${port}`, reconnectMinMs: 500, reconnectMaxMs: 60_000, stopTimeoutMs: 300 },
        batch: { maxReadings: 10, maxDelayMs: 3_600_000 },
        journal: { segmentBytes: 4096, maxBytes: 16 * 1024 * 1024, fsync: 'off' },
      },
      { logger: pino({ level: 'silent' }), random: createSeededRandom(5), timers: clock.timers, now: clock.now },
    );
    cleanups.push(() => agent.stop());
    const delays: number[] = [];
    let scheduled: (() => void) | undefined;
    agent.on('reconnect-scheduled', (ms) => {
      delays.push(ms);
      scheduled?.();
    });
    const nextSchedule = () => new Promise<void>((resolve) => (scheduled = resolve));

    let first = nextSchedule();
    await agent.start();
    let elapsed = 0;
    let pushed = 0;
    const journalBytes: number[] = [];
    while (elapsed < OUTAGE_MS) {
      await first; // the attempt was refused and the next one scheduled
      // The sensors keep sampling through the outage: 20 readings per backoff cycle.
      for (let i = 0; i < 20; i++) await agent.push(routine(pushed++));
      agent.flush();
      await vi.waitFor(() => expect(agent.stats().batchesJournaled).toBe(pushed / 10));
      journalBytes.push(agent.stats().journal.bytes);
      first = nextSchedule();
      const delay = delays.at(-1)!;
      elapsed += delay;
      clock.advance(delay);
    }
    await first;

    const stats = agent.stats();
    expect(stats.connected).toBe(false);
    expect(stats.reconnects).toBe(delays.length);
    // Backoff: within its bounds, up to the 60 s ceiling, never hammering the broker.
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...delays)).toBeLessThanOrEqual(60_000);
    expect(Math.max(...delays)).toBeGreaterThan(30_000);
    expect(delays.length).toBeLessThan(60); // about 15 min / 30 s on average, not thousands of attempts
    // The journal grew on disk at every cycle; memory holds nothing of it.
    expect(journalBytes).toEqual([...journalBytes].sort((a, b) => a - b));
    expect(new Set(journalBytes).size).toBe(journalBytes.length);
    const onDisk = await segmentsOnDisk(journalDir, 'routine');
    expect(onDisk.bytes).toBe(stats.journal.bytes);
    expect(stats.memory).toEqual({ batcherReadings: 0, pendingBatches: 0 });
    expect(stats.journal.lanes.routine).toMatchObject({ pendingBatches: pushed / 10, pendingReadings: pushed });

    // The broker is back on the same port: the next attempt connects, timers run for real again.
    const broker: TestBroker = await startAedesBroker(DEVICE, port);
    cleanups.push(() => broker.stop());
    clock.advance(delays.at(-1)!);
    clock.real();
    await agent.waitForIdle();
    const keys = broker.received.map((r) => `${r.boot}/${r.seq}`);
    expect(new Set(keys).size).toBe(keys.length); // none twice
    expect(broker.received.map((r) => r.seq)).toEqual(Array.from({ length: pushed / 10 }, (_, seq) => seq)); // all, in order
    expect(broker.received.reduce((n, r) => n + r.readings, 0)).toBe(pushed);
    expect(await segmentsOnDisk(journalDir, 'routine')).toEqual({ files: 0, bytes: 0 });
    console.info(`broker outage: ${delays.length} refused attempts over ${(elapsed / 60_000).toFixed(1)} simulated minutes, ${pushed} readings journaled and delivered once`);
  });
});
