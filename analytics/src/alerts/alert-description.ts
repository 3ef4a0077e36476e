import type { AlertDescription } from './alert-event.ts';
import type { AlertView } from './alert-projection.ts';
import type { AlertSignal } from './alert-signal.ts';

/** What an alert is about, from the rule's signal (repeated on every event of the alert). */
export function describe(s: AlertSignal): AlertDescription {
  return {
    key: s.key,
    rule: s.rule,
    kind: s.kind,
    severity: s.severity,
    place: s.place,
    level: s.level,
    metric: s.metric,
    subject: s.subject,
    summary: s.summary,
    value: s.value,
    threshold: s.threshold,
    verification: s.verification,
  };
}

/** The same, from an alert's current view. */
export function descriptionOf(v: AlertView): AlertDescription {
  const { key, rule, kind, severity, place, level, metric, subject, summary, value, threshold, verification } = v;
  return { key, rule, kind, severity, place, level, metric, subject, summary, value, threshold, verification };
}
