import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';
import { runProcess } from './run-process.ts';
import { settingsFor, tourBlocks } from './readme-tour.ts';

// Issue 19: the README's five-minute tour, followed word for word. The README's own code blocks are
// run by bash, in order, in the checkout, against a city started as the tour's first block says
// (plus port 0 and a temporary data directory); the only substitution is the settings block, whose
// values the README tells the reader to replace with their own. Real mosquitto_pub, curl, jq and
// the `cityops` command (npx). No sleeps: a block the README says to watch is polled.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MINUTE = 60_000;

/** What each block after the settings must do, in the README's order; `poll`: run again until it does. */
interface Step {
  /** Names the block: a string only it contains. */
  readonly marker: string;
  readonly poll?: number;
  check(stdout: string, env: Readonly<Record<string, string>>): void;
}

describe('the README tour, word for word', () => {
  let city: CityopsProcess | undefined;
  let dir: string;
  afterAll(async () => {
    await city?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('provisions a device, publishes with mosquitto_pub, mints and verifies a code, and follows the scheduled incident from alert to closed', { timeout: 12 * MINUTE }, async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const [start, settings, ...blocks] = tourBlocks(readme);
    dir = await mkdtemp(join(tmpdir(), 'cityops-tour-'));
    /** The gateway the scenario takes offline, once the city says which. */
    let offline = '';

    const steps: Step[] = [
      { marker: 'device add tour-gw-1', check: (_out, e) => expect(e.SECRET).toMatch(/^\S{16,}$/) },
      { marker: 'mosquitto_pub', check: (out) => expect(out).toBe('') },
      {
        marker: '/v1/readings?device=tour-gw-1',
        poll: 30_000,
        check: (out) => expect(out.trim()).toBe('{"device":"tour-gw-1","district":"pudong","grid":"g001","metric":"pm25","value":35.5}'),
      },
      {
        marker: 'codes issue',
        check: (out) => {
          const verdicts = out.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
          expect(verdicts).toHaveLength(2); // offline, then the city's verifier
          for (const v of verdicts) expect(v).toMatchObject({ verdict: 'allow', reason: 'OK', kind: 'health-code' });
        },
      },
      {
        // Watched until the gateway is back: one alert, at the incident's gateway, with its department.
        marker: 'rule=gateway_offline" | jq -c',
        poll: 6 * MINUTE,
        check: (out) => {
          const alerts = out.trim().split('\n').filter((l) => l !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
          expect(alerts).toHaveLength(1);
          expect(alerts[0]).toMatchObject({ state: 'dispatched', conditionActive: false });
          expect(String(alerts[0]!.department)).toMatch(/-ops-center$/);
          expect(String(alerts[0]!.summary)).toContain(offline);
        },
      },
      { marker: '/accept', check: (out) => expect(out.trim().split('\n')).toEqual(['accepted', 'resolved']) },
      {
        marker: '{state, events:',
        poll: 4 * MINUTE,
        check: (out) => {
          const { state, events } = JSON.parse(out) as { state: string; events: string[] };
          expect(state).toBe('closed');
          expect(events.slice(0, 2)).toEqual(['opened', 'dispatched']);
          expect(events).toEqual(expect.arrayContaining(['cleared', 'accepted', 'resolved']));
        },
      },
      {
        // Issue 23: the closed case rated from the API as from the screen; no rater's name stored.
        marker: '/rate |',
        check: (out) => {
          const [event, ...groups] = out.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
          expect(event).toEqual({ type: 'rated', actor: 'rater:screen', rating: 'good', ratingStage: 'closed' });
          expect(groups).toHaveLength(1);
          expect(groups[0]).toMatchObject({ ratings: 1, goodShare: 1, reopenRate: 0 });
          expect(String(groups[0]!.group)).toMatch(/-ops-center$/);
        },
      },
    ];
    // Every block of the tour has its step, in order: a block added to the README is tested too.
    expect(blocks.map((block) => steps.findIndex((s) => block.includes(s.marker)))).toEqual(steps.map((_s, i) => i));

    // Terminal 1: `npm start -- <args>` is `cityops up <args>`.
    const startArgs = /^npm start -- (.+)$/.exec(start ?? '')?.[1]?.split(/\s+/);
    expect(startArgs, `the tour's first block starts the city: ${start}`).toBeDefined();
    const data = join(dir, 'city');
    city = await startCityops(['up', ...startArgs!, '--data', data, '--mqtt-port', '0', '--http-port', '0', '--verifier-port', '0', '--analytics-port', '0', '--json'], {
      timeoutMs: 3 * MINUTE,
    });
    const ready = city.ready;
    offline = String((ready.incidents as { gateway?: string }).gateway);
    expect(offline).toMatch(/^gw-\d+$/);

    // Terminal 2: the settings, each replaced by what this city printed (the README's instruction).
    let env: Record<string, string> = settingsFor(settings ?? '', {
      API: String(ready.httpUrl),
      VERIFIER: String(ready.verifierUrl),
      ALERTS: String(ready.analyticsUrl),
      MQTT_PORT: new URL(String(ready.mqttUrl)).port,
      DATA: data,
      TOKEN: String(ready.adminToken),
    });

    for (const [i, block] of blocks.entries()) {
      const step = steps[i]!;
      const attempt = async () => {
        const run = await runBlock(block, env, dir);
        expect(run.code, `${block}\n${run.stderr}`).toBe(0);
        step.check(run.stdout, run.env);
        return run.env;
      };
      env = step.poll === undefined ? await attempt() : await vi.waitFor(attempt, { timeout: step.poll, interval: 2_000 });
    }

    // The city's alerts: the scenario's one incident, and the tour's one-off reading gone silent (as the README says).
    await vi.waitFor(
      async () => {
        const all = (await (await fetch(`${String(ready.analyticsUrl)}/v1/alerts`)).json()) as { alerts: { rule: string; subject: string }[] };
        expect(all.alerts.map((a) => [a.rule, a.subject]).sort()).toEqual([
          ['gateway_offline', offline],
          ['sensor_silent', 'tour-gw-1/pm25-1'],
        ]);
      },
      { timeout: 3 * MINUTE, interval: 2_000 },
    );

    // Ctrl-C in terminal 1: a clean stop.
    expect(await city.stop()).toBe(0);
    city = undefined;
  });
});

/**
 * Runs one README block in bash, as a reader's shell would, with the variables set so far; returns
 * what it printed and the variables afterwards (the block's own assignments included).
 */
async function runBlock(block: string, env: Readonly<Record<string, string>>, dir: string): Promise<{ code: number | null; stdout: string; stderr: string; env: Record<string, string> }> {
  const names = [...new Set([...Object.keys(env), ...[...block.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!)])];
  const out = join(dir, 'tour-env.json');
  // set -a: the block's assignments are exported, as they would stay set in the reader's shell.
  const script = `set -euo pipefail\nset -a\n${block}\nset +a\njq -n 'env | {${names.map((n) => `${n}: .${n}`).join(', ')}}' > ${JSON.stringify(out)}\n`;
  const run = await runProcess('bash', ['-c', script], { cwd: ROOT, env: { ...process.env, ...env } });
  const after = run.code === 0 ? (JSON.parse(await readFile(out, 'utf8')) as Record<string, string | null>) : {};
  const next: Record<string, string> = { ...env };
  for (const [k, v] of Object.entries(after)) if (v !== null) next[k] = v;
  return { code: run.code, stdout: run.stdout, stderr: run.stderr, env: next };
}
