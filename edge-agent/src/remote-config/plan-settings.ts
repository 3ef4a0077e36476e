import { GATEWAY_WHEN_FULL_POLICIES, type GatewayConfig } from '@cityops/protocol';
import type { GatewayRuntimeSettings } from '../gateway-agent.ts';
import type { WhenFullPolicy } from '../journal/journal.ts';

// The protocol's list of policies must be the journal's: a type error here when one changes alone.
const SAME_POLICIES: readonly WhenFullPolicy[] = GATEWAY_WHEN_FULL_POLICIES;
void SAME_POLICIES;

/** What decides the gateway's source: a version that changes it gets a new source (the old one stopped first). */
export interface SourceSpec {
  readonly modbus?: Record<string, unknown>;
  readonly pollIntervalMs?: number;
}

export interface PlanContext {
  /** The journal's segment size (local: it cannot change while segments exist). */
  readonly segmentBytes: number;
  /** What the journal holds now. */
  readonly journalBytes: number;
  readonly validateModbus?: (map: unknown) => readonly string[];
}

export function sourceSpecOf(config: GatewayConfig): SourceSpec {
  return {
    ...(config.modbus === undefined ? {} : { modbus: config.modbus }),
    ...(config.pollIntervalMs === undefined ? {} : { pollIntervalMs: config.pollIntervalMs }),
  };
}

/**
 * The settings a version asks for, over the gateway's local ones (a version is a whole desired
 * state: what it leaves out is the local setting, not the previous version's), and every reason the
 * gateway cannot take it. Nothing is changed here.
 */
export function planSettings(base: GatewayRuntimeSettings, config: GatewayConfig, context: PlanContext): { settings: GatewayRuntimeSettings; problems: string[] } {
  const settings: GatewayRuntimeSettings = {
    logLevel: config.logLevel ?? base.logLevel,
    batch: { ...base.batch, ...config.batch },
    journal: { ...base.journal, ...config.journal },
  };
  const problems: string[] = [];
  const { maxBytes } = settings.journal;
  // As at start (agent-config.ts): the full-journal policy drops a segment at a time.
  if (maxBytes < 4 * context.segmentBytes) problems.push(`/config/journal/maxBytes (${maxBytes}) must be at least 4 x segmentBytes (${context.segmentBytes})`);
  // Lowering the bound below what waits to be sent would drop journaled readings at the next append.
  if (maxBytes < context.journalBytes) problems.push(`/config/journal/maxBytes (${maxBytes}) is below what the journal holds now (${context.journalBytes} bytes)`);
  if (config.modbus !== undefined) {
    if (context.validateModbus === undefined) problems.push('/config/modbus: this gateway has no Modbus support');
    else problems.push(...context.validateModbus(config.modbus).map((p) => `/config/modbus${p.startsWith('/') ? '' : ' '}${p}`));
  }
  return { settings, problems };
}
