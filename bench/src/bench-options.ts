import { parseArgs } from 'node:util';
import { isCityopsError } from '@cityops/protocol';
import { benchErrors } from './bench-errors.ts';
import type { Scenario } from './scenario.ts';

export interface BenchOptions {
  readonly help: boolean;
  readonly chosen: readonly Scenario[];
  /** undefined: each scenario's own default. */
  readonly durationS: number | undefined;
  readonly smoke: boolean;
  /** CPU profiles of every process and thread the scenarios start, and of the bench itself. */
  readonly profile: boolean;
  readonly out: string;
}

/** A day: longer is a typo (or ms where seconds were meant), not a benchmark. */
const MAX_DURATION_S = 86_400;

export function benchUsage(scenarios: readonly Scenario[]): string {
  const width = Math.max(...scenarios.map((s) => s.name.length));
  const rows = scenarios.map((s) => {
    const question = s.question.replace(/\s+/g, ' ');
    return `  ${s.name.padEnd(width)}  ${s.onlyWhenNamed === true ? '(only when named) ' : ''}${question.length > 110 ? `${question.slice(0, 107)}...` : question}`;
  });
  return [
    'npm run bench [-- <scenario>...] [--duration S] [--smoke] [--profile] [--out DIR]',
    '  runs the named scenarios (none named: all but those run only when named), each measured against a peer or a',
    '  limit in the same run; writes a JSON and a Markdown report (with SVG charts) to DIR (default bench/results).',
    `  --duration S: seconds of load (1 to ${MAX_DURATION_S}; default each scenario's own, mostly 20); --smoke: a`,
    '  second or two of every scenario, only to prove it still runs. --profile: CPU profiles (node --cpu-prof) of',
    '  every process and thread a scenario starts and of the bench itself, into DIR/<date>-profiles/<scenario>/,',
    '  summarised in the report (top functions by self time, GC, rollup by package).',
    'scenarios:',
    ...rows,
  ].join('\n');
}

/** The command line, checked: every problem is a BENCH_ERR_USAGE (exit code 2, one line). */
export function parseBenchOptions(argv: readonly string[], scenarios: readonly Scenario[], defaultOut: string): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        duration: { type: 'string' },
        smoke: { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        out: { type: 'string', default: defaultOut },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw benchErrors.BENCH_ERR_USAGE((err as Error).message, err);
  }
  const { values, positionals } = parsed;
  const known = scenarios.map((s) => s.name);
  const unknown = positionals.filter((p) => !known.includes(p));
  if (unknown.length > 0) throw benchErrors.BENCH_ERR_USAGE(`unknown scenario ${unknown.map((u) => JSON.stringify(u.slice(0, 60))).join(', ')}; known: ${known.join(', ')}`);
  let durationS: number | undefined;
  if (values.duration !== undefined) {
    durationS = Number(values.duration);
    if (!/^\d+(\.\d+)?$/.test(values.duration) || !(durationS >= 1 && durationS <= MAX_DURATION_S)) {
      throw benchErrors.BENCH_ERR_USAGE(`--duration must be seconds from 1 to ${MAX_DURATION_S}, got ${JSON.stringify(values.duration.slice(0, 40))}`);
    }
  }
  const chosen = positionals.length === 0 ? scenarios.filter((s) => values.smoke || s.onlyWhenNamed !== true) : scenarios.filter((s) => positionals.includes(s.name));
  return { help: values.help, chosen, durationS, smoke: values.smoke, profile: values.profile, out: values.out };
}

/** What `npm run bench` prints for a misuse: one line, the usage only on --help. */
export function benchUsageLine(err: unknown): string | undefined {
  if (!isCityopsError(err, 'BENCH_ERR_USAGE')) return undefined;
  return `npm run bench: ${err.code}: ${err.message.split('\n')[0] ?? ''} (npm run bench -- --help shows the usage)\n`;
}
