import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { createJsonLinesSource, createModbusSource, createSimulatedSource, type RegisterMap, type SlotSource, type SourceSpec } from '@cityops/edge-agent';
import { cliErrors } from '../cli-errors.ts';

/** The source a gateway starts with: what its command line (or config file) names. */
export type BaseSource =
  | { readonly kind: 'stdin'; readonly input: Readable }
  | { readonly kind: 'simulated'; readonly config: Parameters<typeof createSimulatedSource>[0] }
  | { readonly kind: 'modbus'; readonly map: RegisterMap };

/**
 * Builds the source a remote configuration version asks for (issue 18): its register map if it
 * has one (already checked by the remote configuration's validator), else the base source, with the
 * version's poll interval where it has one. `{}` builds the base source itself.
 */
export function gatewaySourceBuilder(base: BaseSource, logger: Logger): (spec: SourceSpec) => SlotSource {
  let stdinOpened = false;
  return (spec) => {
    if (spec.modbus !== undefined) return createModbusSource(withDefaultInterval(spec.modbus, spec.pollIntervalMs) as never, { logger });
    if (base.kind === 'modbus') {
      if (spec.pollIntervalMs !== undefined) throw cliErrors.CLI_ERR_USAGE('a poll interval for a Modbus gateway comes with its register map (config.modbus)');
      return createModbusSource(base.map, { logger });
    }
    if (base.kind === 'simulated') {
      const { ratePerSecond: _rate, ...rest } = base.config;
      return createSimulatedSource(spec.pollIntervalMs === undefined ? base.config : { ...rest, intervalMs: spec.pollIntervalMs });
    }
    if (spec.pollIntervalMs !== undefined) throw cliErrors.CLI_ERR_USAGE('the stdin source takes no poll interval');
    if (stdinOpened) throw cliErrors.CLI_ERR_USAGE('stdin cannot be read again once another source replaced it');
    stdinOpened = true;
    return createJsonLinesSource(base.input, {}, { logger });
  };
}

/** A delivered map's registers that name no interval poll at the version's `pollIntervalMs`. */
function withDefaultInterval(map: Record<string, unknown>, pollIntervalMs: number | undefined): Record<string, unknown> {
  if (pollIntervalMs === undefined || !Array.isArray(map.registers)) return map;
  const registers = (map.registers as unknown[]).map((r) =>
    typeof r === 'object' && r !== null && (r as { intervalMs?: unknown }).intervalMs === undefined ? { ...r, intervalMs: pollIntervalMs } : r,
  );
  return { ...map, registers };
}
