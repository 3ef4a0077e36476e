import type { IndicatorEngine } from '../indicator-engine.ts';
import { durationSeconds } from '../window-duration.ts';
import type { AlertView } from './alert-projection.ts';
import type { RuleConditions } from './alert-signal.ts';

export type ResolutionOutcome =
  | { readonly outcome: 'reopen'; readonly reason: string }
  | { readonly outcome: 'verified'; readonly reason: string }
  | { readonly outcome: 'pending' };

export interface ResolutionCheckDeps {
  readonly engine?: IndicatorEngine | undefined;
  readonly conditions?: RuleConditions | undefined;
  readonly now: () => number;
}

/** Windows read per check at most: a resolution checked after a long outage catches up over several checks. */
const MAX_WINDOWS_PER_CHECK = 500;

/**
 * Checks a resolved alert against the data. `indicator`: the complete windows after the resolution,
 * in order, at the exact place: the first warning/critical one reopens; `windows` normal ones
 * (no_data windows skipped: they neither count nor reopen) verify. `condition`: the rule's
 * condition active now reopens; inactive for windows × windowMs since the resolution verifies.
 */
export async function checkResolution(view: AlertView, deps: ResolutionCheckDeps): Promise<ResolutionOutcome> {
  const resolvedAt = view.resolvedAt ?? view.updatedAt;
  const now = deps.now();
  const v = view.verification;
  if (v.by === 'condition') {
    const active = deps.conditions?.isActive(view.key) ?? view.conditionActive;
    if (active) return { outcome: 'reopen', reason: 'the condition is active again' };
    const needed = v.windows * v.windowMs;
    if (now - resolvedAt >= needed) return { outcome: 'verified', reason: `the condition stayed inactive for ${needed} ms` };
    return { outcome: 'pending' };
  }
  const engine = deps.engine;
  const def = engine?.definition(v.indicator);
  if (engine === undefined || def === undefined) throw new Error(`indicator ${v.indicator} is not available to verify alert ${view.id}`);
  const windowMs = durationSeconds(def.window) * 1000;
  const firstComplete = Math.ceil(resolvedAt / windowMs) * windowMs;
  const to = Math.min(now, firstComplete + MAX_WINDOWS_PER_CHECK * windowMs);
  if (to < firstComplete + windowMs) return { outcome: 'pending' };
  const result = await engine.evaluate({ name: v.indicator, level: v.level, place: v.place, from: firstComplete, to });
  let normal = 0;
  for (const w of result.windows) {
    if (w.from < resolvedAt) continue;
    const cell = w.places.find((p) => p.place === v.place);
    if (cell === undefined || cell.state === 'no_data') continue;
    if (cell.state === 'warning' || cell.state === 'critical') {
      return { outcome: 'reopen', reason: `${v.indicator} ${cell.state} (${cell.value}) at ${v.place || 'the city'} in the window from ${new Date(w.from).toISOString()}` };
    }
    normal++;
    if (normal >= v.windows) return { outcome: 'verified', reason: `${v.indicator} normal for ${normal} windows` };
  }
  return { outcome: 'pending' };
}
