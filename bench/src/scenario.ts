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
}

export interface Scenario {
  readonly name: string;
  readonly question: string;
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}
