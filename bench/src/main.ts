import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineInfo } from './machine-info.ts';
import { writeReport } from './report.ts';
import type { Scenario, ScenarioResult } from './scenario.ts';
import { alertsScenario } from './scenarios/alerts-scenario.ts';
import { brokerScenario } from './scenarios/broker-scenario.ts';
import { codecScenario } from './scenarios/codec-scenario.ts';
import { edgeScenario } from './scenarios/edge-scenario.ts';
import { hostileScenario } from './scenarios/hostile-scenario.ts';
import { ingestScenario } from './scenarios/ingest-scenario.ts';
import { memoryScenario } from './scenarios/memory-scenario.ts';
import { queryScenario } from './scenarios/query-scenario.ts';
import { scalingScenario } from './scenarios/scaling-scenario.ts';
import { scanScenario } from './scenarios/scan-scenario.ts';
import { soakScenario } from './scenarios/soak-scenario.ts';
import { verifyScenario } from './scenarios/verify-scenario.ts';

const SCENARIOS: readonly Scenario[] = [codecScenario, ingestScenario, verifyScenario, queryScenario, alertsScenario, brokerScenario, edgeScenario, soakScenario, scalingScenario, memoryScenario, scanScenario, hostileScenario];

/** `npm run bench [-- <scenario>...] [--duration S] [--smoke] [--out DIR]` */
export async function runBench(argv: string[]): Promise<{ results: ScenarioResult[]; paths: { json: string; markdown: string } }> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      duration: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      out: { type: 'string', default: join(import.meta.dirname, '..', 'results') },
    },
  });
  const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.name === p));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const chosen =
    positionals.length === 0 ? SCENARIOS.filter((s) => values.smoke || s.onlyWhenNamed !== true) : SCENARIOS.filter((s) => positionals.includes(s.name));
  const results: ScenarioResult[] = [];
  for (const scenario of chosen) {
    const workDir = await mkdtemp(join(tmpdir(), `cityops-bench-${scenario.name}-`));
    try {
      results.push(
        await scenario.run({
          durationS: values.smoke ? 2 : Number(values.duration ?? scenario.defaultDurationS ?? 20),
          smoke: values.smoke,
          workDir,
          log: (line) => process.stderr.write(`${line}\n`),
        }),
      );
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }
  const command = ['npm run bench', ...(argv.length > 0 ? ['--', ...argv.map((a) => (/^[\w./=:-]+$/.test(a) ? a : JSON.stringify(a)))] : [])].join(' ');
  const paths = await writeReport(values.out, { machine: machineInfo(), command, smoke: values.smoke, results });
  return { results, paths };
}

if (process.argv[1] === import.meta.filename) {
  runBench(process.argv.slice(2)).then(
    ({ results, paths }) => {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\nreport: ${paths.markdown}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
