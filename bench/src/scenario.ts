import type { Chart } from './charts/chart-spec.ts';
import type { DebianPeer } from '../../test-peers/debian-peers.ts';
import type { ProfiledThread } from './profiling/profile-directory.ts';

/** One benchmark scenario: a question, measured against a peer or a limit in the same run. */
export interface ScenarioOptions {
  /** Seconds of steady load (smoke runs use a second or two). */
  readonly durationS: number;
  /** A short run that only proves the scenario still works (used by `npm test`). */
  readonly smoke: boolean;
  readonly workDir: string;
  readonly log: (line: string) => void;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly question: string;
  /** Named figures, each with its unit in the name (`readings_per_second`, `p99_ms`). */
  readonly figures: Readonly<Record<string, number>>;
  /** Targets and whether this run met them. */
  readonly targets: readonly { readonly name: string; readonly target: string; readonly met: boolean }[];
  readonly notes: readonly string[];
  /** Tables for the Markdown report (a time series, compacted); the JSON also carries them. */
  readonly tables?: readonly ReportTable[];
  /** Charts the report draws as SVG beside the Markdown (bars: ours vs a peer, limit or target; lines over time). */
  readonly charts?: readonly Chart[];
  /** With `--profile`: where the run's CPU profiles are, and each process's and thread's summary. */
  readonly profiles?: { readonly dir: string; readonly threads: readonly ProfiledThread[] };
}

export interface ReportTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

export interface Scenario {
  readonly name: string;
  readonly question: string;
  /** Seconds of load when `--duration` is not given (20 unless the scenario says). */
  readonly defaultDurationS?: number;
  /** Left out of `npm run bench` without scenario names (too long for every run); `--smoke` still runs it. */
  readonly onlyWhenNamed?: boolean;
  /** The real peers it runs against, checked before any scenario of a run starts. */
  readonly peers?: readonly DebianPeer[];
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}
