import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCityopsError } from '@cityops/protocol';
import { missingPeers } from '../../test-peers/debian-peers.ts';
import { benchErrors } from './bench-errors.ts';
import { benchUsage, benchUsageLine, parseBenchOptions } from './bench-options.ts';
import { machineInfo } from './machine-info.ts';
import { createProfileCapture } from './profiling/profile-capture.ts';
import { readProfiles, repositoryWorkspaces } from './profiling/profile-directory.ts';
import { reportStamp, writeReport } from './report.ts';
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

const DEFAULT_OUT = join(import.meta.dirname, '..', 'results');

/**
 * `npm run bench [-- <scenario>...] [--duration S] [--smoke] [--profile] [--out DIR]`. The peers the
 * chosen scenarios need are checked before the first one starts (a missing one is found in seconds,
 * not after the scenarios before it); when a scenario fails, the report of those that finished is
 * written before the failure is thrown.
 */
export async function runBench(
  argv: string[],
  scenarios: readonly Scenario[] = SCENARIOS,
): Promise<{ results: ScenarioResult[]; paths: { json: string; markdown: string } }> {
  const options = parseBenchOptions(argv, scenarios, DEFAULT_OUT);
  if (options.help) throw new Error('runBench: --help is answered by the command line, not run');
  const missing = await missingPeers(options.chosen.flatMap((s) => s.peers ?? []));
  if (missing.length > 0) {
    const needs = missing.map((peer) => {
      const users = options.chosen.filter((s) => s.peers?.some((p) => p.name === peer.name)).map((s) => s.name);
      return `${users.join(', ')} ${users.length === 1 ? 'needs' : 'need'} ${peer.name} (${peer.path}, Debian package ${peer.package})`;
    });
    throw benchErrors.BENCH_ERR_PEER_MISSING(`${needs.join('; ')}: run \`npm run setup\` (scripts/install-peers.sh installs them)`);
  }
  const results: ScenarioResult[] = [];
  const profileRoot = join(options.out, `${reportStamp(new Date().toISOString())}-profiles`);
  const workspaces = options.profile ? await repositoryWorkspaces() : [];
  const command = ['npm run bench', ...(argv.length > 0 ? ['--', ...argv.map((a) => (/^[\w./=:-]+$/.test(a) ? a : JSON.stringify(a)))] : [])].join(' ');
  for (const scenario of options.chosen) {
    const workDir = await mkdtemp(join(tmpdir(), `cityops-bench-${scenario.name}-`));
    // Without --profile nothing is captured and nothing changes for the processes under test.
    const profileDir = join(profileRoot, scenario.name);
    const capture = options.profile ? createProfileCapture({ dir: profileDir }, { env: process.env }) : undefined;
    try {
      await capture?.start();
      const result = await scenario.run({
        durationS: options.smoke ? 2 : (options.durationS ?? scenario.defaultDurationS ?? 20),
        smoke: options.smoke,
        workDir,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      await capture?.stop();
      results.push(capture === undefined ? result : { ...result, profiles: { dir: profileDir, threads: await readProfiles(profileDir, { workspaces, top: 20 }) } });
    } catch (err) {
      if (results.length === 0) throw err;
      const partial = await writeReport(options.out, { machine: machineInfo(), command, smoke: options.smoke, results });
      throw benchErrors.BENCH_ERR_SCENARIO_FAILED(
        `${scenario.name}: ${(err as Error).message}; the report of the ${results.length} scenario(s) before it: ${partial.markdown}`,
        err,
      );
    } finally {
      await capture?.stop();
      await rm(workDir, { recursive: true, force: true });
    }
  }
  const paths = await writeReport(options.out, { machine: machineInfo(), command, smoke: options.smoke, results });
  return { results, paths };
}

/** The command line: usage on --help, one line and exit code 2 on a misuse, the report otherwise. */
function benchMain(argv: string[]): void {
  try {
    if (parseBenchOptions(argv, SCENARIOS, DEFAULT_OUT).help) {
      process.stdout.write(`${benchUsage(SCENARIOS)}\n`);
      return;
    }
  } catch (err) {
    process.stderr.write(benchUsageLine(err) ?? `${String(err)}\n`);
    process.exit(2);
  }
  runBench(argv).then(
    ({ results, paths }) => {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\nreport: ${paths.markdown}\n`);
    },
    (err: unknown) => {
      if (isCityopsError(err, 'BENCH_ERR_PEER_MISSING')) {
        process.stderr.write(`npm run bench: ${err.code}: ${err.message}\n`);
        process.exit(2);
      }
      // A scenario that failed while measuring: its stack is what a maintainer needs.
      const cause = isCityopsError(err, 'BENCH_ERR_SCENARIO_FAILED') ? err.cause : err;
      if (cause !== err) process.stderr.write(`npm run bench: ${(err as Error).message}\n`);
      process.stderr.write(`${(cause as Error).stack ?? String(cause)}\n`);
      process.exit(1);
    },
  );
}

if (process.argv[1] === import.meta.filename) benchMain(process.argv.slice(2));
