import type { AlertSeverity } from '../alerts/alert-signal.ts';
import type { BaseSignal, ConditionLinks } from './condition-set.ts';

export interface AlertStormConfig {
  /** New alerts per (rule, place) within one window; beyond it they fold into the storm alert. */
  readonly maxNewAlerts: number;
  readonly windowMs: number;
  /** Subjects a storm's alert names; the rest are counted. */
  readonly listMax: number;
}

interface Window {
  start: number;
  count: number;
}

interface Storm {
  readonly key: string;
  readonly first: BaseSignal;
  readonly links: ConditionLinks;
  readonly names: string[];
  severity: AlertSeverity;
  folded: number;
  lastFold: number;
}

export interface AlertStorms {
  /**
   * A condition about to become a new alert at `t`. Under its (rule, place)'s cap: counted, and
   * undefined. Over it: folded into the storm, whose signal (new or updated) is returned.
   */
  admit(base: BaseSignal, links: ConditionLinks, t: number): { readonly signal: BaseSignal; readonly links: ConditionLinks; readonly begun: boolean } | undefined;
  /** Storms whose window passed with nothing new folded in: they end (their keys). */
  expire(t: number): string[];
  /** Storms active now. */
  size(): number;
  /** (rule, place) windows tracked now. */
  windows(): number;
}

/** A storm's condition key: `{rule}:storm@{place}` (device ids never contain `@`). */
export function stormKey(rule: string, place: string): string {
  return `${rule}:storm@${place}`;
}

function duration(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

/**
 * Bounds alert storms. Per rule and place, at most maxNewAlerts new alerts per window (a fixed
 * window from the first one); beyond it each new condition folds into one storm alert for the rule
 * and place, which says how many were folded and names the first listMax. The storm ends when a
 * whole window passes with nothing folded in. Folded conditions stay true in the engine but are
 * never raised: their clear says nothing, and a later return is a new alert (counted again).
 */
export function createAlertStorms(config: AlertStormConfig): AlertStorms {
  const windows = new Map<string, Window>();
  const storms = new Map<string, Storm>();
  let nextPrune = 0;

  function signal(storm: Storm, t: number): BaseSignal {
    const { first } = storm;
    const more = storm.folded > storm.names.length ? ` (+${storm.folded - storm.names.length} more)` : '';
    return {
      key: storm.key,
      rule: first.rule,
      kind: first.kind,
      severity: storm.severity,
      place: first.place,
      level: first.level,
      ...(first.metric === undefined ? {} : { metric: first.metric }),
      value: storm.folded,
      summary: `Alert storm: ${storm.folded} more ${first.rule} alerts at ${first.place || 'city'} beyond ${config.maxNewAlerts} per ${duration(config.windowMs)}: ${storm.names.join(', ')}${more}`,
      at: t,
      observedAt: first.observedAt ?? first.at,
      verification: { by: 'condition', windowMs: config.windowMs, windows: 1 },
    };
  }

  return {
    admit(base, links, t) {
      const id = `${base.rule}\u0000${base.place}`;
      let w = windows.get(id);
      if (w === undefined || t - w.start >= config.windowMs) {
        w = { start: t, count: 0 };
        windows.set(id, w);
      }
      const key = stormKey(base.rule, base.place);
      let storm = storms.get(key);
      if (w.count < config.maxNewAlerts && storm === undefined) {
        w.count++;
        return undefined;
      }
      const begun = storm === undefined;
      // The storm hangs where its alerts would: under the grid's or the pipeline's condition, not a gateway's.
      storm ??= { key, first: base, links: links.grid === undefined ? {} : { grid: links.grid }, names: [], severity: base.severity, folded: 0, lastFold: t };
      storms.set(key, storm);
      storm.folded++;
      storm.lastFold = t;
      if (base.severity === 'critical') storm.severity = 'critical';
      if (storm.names.length < config.listMax) storm.names.push(base.subject ?? base.key);
      return { signal: signal(storm, t), links: storm.links, begun };
    },
    expire(t) {
      const ended: string[] = [];
      for (const storm of storms.values()) {
        if (t - storm.lastFold < config.windowMs) continue;
        storms.delete(storm.key);
        ended.push(storm.key);
      }
      if (t >= nextPrune) {
        nextPrune = t + config.windowMs;
        for (const [id, w] of windows) if (t - w.start >= config.windowMs) windows.delete(id);
      }
      return ended;
    },
    size: () => storms.size,
    windows: () => windows.size,
  };
}
