import { analyticsErrors } from './errors.ts';

/** Consecutive windows of one length: [startMs + k·lengthMs, startMs + (k+1)·lengthMs), k < count. */
export interface WindowSpan {
  readonly startMs: number;
  readonly lengthMs: number;
  readonly count: number;
}

export interface WindowRequest {
  readonly at?: number | undefined;
  readonly from?: number | undefined;
  readonly to?: number | undefined;
}

/**
 * Windows are aligned to the epoch in UTC (a 5m window starts at :00, :05, …; 1d at midnight UTC)
 * and only complete windows are answered, so a value never changes for lack of time passed (late
 * readings still may). One time (`at`, default now): the last window ending at or before it. A
 * series (`from`, `to` default now): every complete window from the one holding `from` to the last
 * one ending at or before `to`.
 */
export function windowsFor(request: WindowRequest, lengthSeconds: number, now: number, maxWindows: number): WindowSpan {
  const lengthMs = lengthSeconds * 1000;
  const floor = (t: number) => Math.floor(t / lengthMs) * lengthMs;
  if (request.at !== undefined && (request.from !== undefined || request.to !== undefined)) {
    throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID('give either at, or from and to, not both');
  }
  if (request.from === undefined) {
    if (request.to !== undefined) throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID('to needs from');
    const end = floor(request.at ?? now);
    return { startMs: end - lengthMs, lengthMs, count: 1 };
  }
  const to = request.to ?? now;
  if (to <= request.from) throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID('from must be before to');
  const startMs = floor(request.from);
  const endMs = Math.min(floor(to), floor(now));
  const count = Math.max(0, (endMs - startMs) / lengthMs);
  if (count > maxWindows) {
    throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID(`from..to spans ${count} windows of ${lengthSeconds} s; at most ${maxWindows}`);
  }
  return { startMs, lengthMs, count };
}

/**
 * The request's complete windows plus the current, incomplete one when the request reaches now (no
 * `at`; a series whose `to` is absent or not before now): `partial` is how many are appended (0 or 1)
 * and the span covers them, so one query reads both.
 */
export function withCurrentWindow(request: WindowRequest, span: WindowSpan, now: number): WindowSpan & { readonly partial: 0 | 1 } {
  const reachesNow = request.at === undefined && (request.from === undefined || request.to === undefined || request.to >= now);
  const current = Math.floor(now / span.lengthMs) * span.lengthMs;
  // A series whose `from` is in the current window has no complete window: it starts there.
  const startMs = span.count === 0 ? current : span.startMs;
  if (!reachesNow || startMs + span.count * span.lengthMs !== current) return { ...span, partial: 0 };
  return { startMs, lengthMs: span.lengthMs, count: span.count + 1, partial: 1 };
}

