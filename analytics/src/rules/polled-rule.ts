import type { QueryParams, Warehouse } from '@cityops/warehouse';
import type { BaseSignal, ConditionSet } from './condition-set.ts';
import type { DeviceEntry } from './device-directory.ts';
import { ruleDurationMs } from './rule-duration.ts';

/** What a rule that reads the warehouse every `every` (verification_anomaly, scanner_flood) is given. */
export interface PolledRuleDeps {
  readonly warehouse: Warehouse;
  readonly conditions: ConditionSet;
  readonly now: () => number;
  readonly device: (id: string) => DeviceEntry | undefined;
  readonly onEvaluations: (n: number) => void;
}

export interface PolledRuleCheck<R> {
  readonly rule: R;
  readonly everyMs: number;
  /** Queries the warehouse and raises or clears per subject. */
  run(): Promise<void>;
}

/** Says that the condition for `key` holds in this run; `signal` is built on its rising edge only. */
export type Holds = (key: string, signal: () => BaseSignal) => void;

export interface PolledRuleSpec<Row> {
  /** The query of a run at `nowMs` (values as query parameters). */
  query(nowMs: number): { readonly sql: string; readonly params: QueryParams };
  /** Calls `holds` for every condition true in these rows. */
  evaluate(rows: readonly Row[], nowMs: number, holds: Holds): void;
}

/**
 * A rule asked every `rule.every`: each run queries the warehouse, and the keys that hold are
 * compared with the last run's: a new one is activated, one missing is deactivated (edges only,
 * never per run). Runs do not overlap (the rule engine awaits each).
 */
export function createPolledCheck<R extends { readonly every: string }, Row>(rule: R, deps: PolledRuleDeps, spec: PolledRuleSpec<Row>): PolledRuleCheck<R> {
  const active = new Set<string>();
  return {
    rule,
    everyMs: ruleDurationMs(rule.every),
    async run() {
      const t = deps.now();
      const { sql, params } = spec.query(t);
      const rows = await deps.warehouse.query<Row>(sql, params);
      const seen = new Set<string>();
      spec.evaluate(rows, t, (key, signal) => {
        seen.add(key);
        if (active.has(key)) return;
        active.add(key);
        deps.conditions.activate(signal());
      });
      for (const key of active) {
        if (seen.has(key)) continue;
        active.delete(key);
        deps.conditions.deactivate(key, t);
      }
      deps.onEvaluations(rows.length);
    },
  };
}
