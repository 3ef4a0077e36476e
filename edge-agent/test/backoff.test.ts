import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test-peers/free-port.ts';
import { createBackoff, createSeededRandom } from '../src/index.ts';
import { createAgentFixture } from './agent-fixture.ts';

const fixture = createAgentFixture();
afterEach(() => fixture.cleanup());

describe('reconnect backoff', () => {
  it('is jittered, grows, stays within [min, max], and repeats for a seed', () => {
    const draw = (seed: number) => {
      const backoff = createBackoff({ minMs: 100, maxMs: 5000 }, createSeededRandom(seed));
      return Array.from({ length: 40 }, () => backoff.next());
    };
    const delays = draw(7);
    expect(draw(7)).toEqual(delays);
    expect(draw(8)).not.toEqual(delays);
    for (const [n, d] of delays.entries()) {
      expect(d).toBeGreaterThanOrEqual(100);
      // attempt n draws from [min, min(max, min * 2^(n+1))]
      expect(d).toBeLessThanOrEqual(Math.min(5000, 100 * 2 ** (n + 1)));
    }
    expect(new Set(delays).size).toBeGreaterThan(30); // jittered, not a fixed ladder
    const late = delays.slice(10);
    expect(Math.max(...late)).toBeGreaterThan(2500); // reaches the upper range...
    expect(Math.max(...delays)).toBeLessThanOrEqual(5000); // ...and never passes the bound
  });

  it('starts again from the bottom after a success', () => {
    const random = () => 0.999;
    const backoff = createBackoff({ minMs: 10, maxMs: 10_000 }, random);
    for (let i = 0; i < 8; i++) backoff.next();
    expect(backoff.next()).toBeGreaterThan(5000);
    backoff.reset();
    expect(backoff.next()).toBeLessThanOrEqual(20);
  });

  it('drives the agent: a refused connection is retried after seeded, bounded delays', async () => {
    const port = await freePort(); // nobody listens: every attempt is refused at once
    const delaysFor = async (seed: number) => {
      const agent = fixture.agent(
        { journalDir: await fixture.journalDir(), url: `mqtt://127.0.0.1:${port}`, mqtt: { reconnectMinMs: 2, reconnectMaxMs: 40 } },
        seed,
      );
      const delays: number[] = [];
      const six = new Promise<void>((resolve) =>
        agent.on('reconnect-scheduled', (ms) => {
          if (delays.push(ms) === 6) resolve();
        }),
      );
      await agent.start();
      await six;
      await agent.stop();
      expect(agent.stats().reconnects).toBeGreaterThanOrEqual(6);
      return delays.slice(0, 6);
    };
    const a = await delaysFor(3);
    expect(await delaysFor(3)).toEqual(a);
    expect(a.every((d) => d >= 2 && d <= 40)).toBe(true);
    expect(new Set(a).size).toBeGreaterThan(1);
  });
});
