import type { HierarchyLevel } from '@cityops/protocol';

/** What kind of condition a rule watches. */
export const ALERT_KINDS = [
  'threshold',
  'rate_of_change',
  'sensor_silent',
  'gateway_offline',
  'grid_quiet',
  'pipeline_backlog',
  'verification_anomaly',
  'scanner_flood',
  'device_refusals',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const ALERT_SEVERITIES = ['warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/**
 * How the lifecycle checks a resolved alert against the data. `indicator`: the indicator at the
 * place and level must be normal for `windows` consecutive complete windows after the resolution
 * (one window not normal reopens the alert). `condition`: the rule's own condition
 * (`RuleConditions.isActive`) must stay false for `windows` × `windowMs` after the resolution.
 */
export type AlertVerification =
  | { readonly by: 'indicator'; readonly indicator: string; readonly level: HierarchyLevel; readonly place: string; readonly windows: number }
  | { readonly by: 'condition'; readonly windowMs: number; readonly windows: number };

/**
 * A rule's condition for one subject, as the rule engine sees it. The key names the condition
 * (`{rule}:{subject}`): at most one alert that is not closed exists per key.
 */
export interface AlertSignal {
  readonly key: string;
  /** The rule's name in the rules file. */
  readonly rule: string;
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  /** Where the condition is: `district[/subdistrict[/grid[/building]]]`, empty for the city. */
  readonly place: string;
  readonly level: HierarchyLevel;
  /** The metric, for reading rules (routing uses it); absent for silence and verification rules. */
  readonly metric?: string;
  /** What the condition is about below the place: a gateway, a sensor (`device/sensor`), a venue. */
  readonly subject?: string;
  /** The value that breached and the threshold it crossed, where the rule has them. */
  readonly value?: number;
  readonly threshold?: number;
  /** A line an operator can read: `PM2.5 avg 182 µg/m³ > 150 for 2m`. */
  readonly summary: string;
  /** When the rule engine saw the condition become true (ms since the epoch, the engine's clock). */
  readonly at: number;
  /** Data time of the reading (or event) that made it true, for latency measurement. */
  readonly observedAt?: number;
  /**
   * The key of the active condition above this one that explains it (a gateway offline over its
   * silent sensors, a quiet grid over its gateways, a pipeline backlog over every silence). Set: the
   * alert is suppressed (kept, not dispatched); a later raise without it lifts the suppression.
   */
  readonly parentKey?: string;
  readonly verification: AlertVerification;
}

/** Where the rule engine reports conditions: the alert lifecycle. */
export interface AlertSink {
  /**
   * The condition for `signal.key` became true, or its parent changed (`parentKey` set, changed or
   * removed). Called on edges and parent changes only, not on every evaluation.
   */
  raise(signal: AlertSignal): Promise<void>;
  /** The condition for `key` became false at `at`. */
  clear(key: string, at: number): Promise<void>;
}

/** What the lifecycle asks the rule engine while verifying a resolved alert. */
export interface RuleConditions {
  /** Whether the condition for `key` is true now. */
  isActive(key: string): boolean;
}
