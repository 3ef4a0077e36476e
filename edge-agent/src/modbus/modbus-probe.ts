import { isCityopsError } from '@cityops/protocol';
import { agentErrors } from '../errors.ts';
import { createModbusBus, type ModbusBus, type ModbusBusDeps } from './modbus-bus.ts';
import { planReads } from './read-plan.ts';
import type { RegisterMap, RegisterMapInput, RegisterSpec } from './register-map-schema.ts';
import { parseRegisterMap } from './register-map.ts';
import { decodeAnswer } from './register-readings.ts';

/** What reading one register once gave. */
export interface RegisterProbe {
  readonly sensor: string;
  readonly metric: string;
  readonly unit: number;
  readonly table: RegisterSpec['table'];
  readonly address: number;
  readonly ok: boolean;
  readonly value?: number;
  readonly alarm?: boolean;
  /** AGENT_ERR_MODBUS_* when not ok. */
  readonly code?: string;
  readonly modbusCode?: number;
  readonly message?: string;
}

export interface ModbusProbeDeps extends ModbusBusDeps {
  readonly bus?: ModbusBus;
}

/**
 * Reads every register of a map once, in the requests polling would make, and says per register
 * what came back. Publishes nothing: `cityops gateway --check` runs it before a field install.
 */
export async function probeRegisterMap(input: RegisterMapInput | RegisterMap, deps: ModbusProbeDeps = {}): Promise<RegisterProbe[]> {
  const map = parseRegisterMap(input);
  const bus = deps.bus ?? createModbusBus(map, deps);
  const outcomes: RegisterProbe[] = [];
  const where = (spec: RegisterSpec) => ({ sensor: spec.sensor, metric: spec.metric, unit: spec.unit, table: spec.table, address: spec.address });
  try {
    for (const request of planReads(map)) {
      let words: number[];
      try {
        words = await bus.read(request.unit, request.table, request.address, request.count);
      } catch (err) {
        const error = isCityopsError(err) ? err : agentErrors.AGENT_ERR_MODBUS_TRANSPORT((err as Error).message, err);
        const modbusCode = (error as { modbusCode?: number }).modbusCode;
        for (const { spec } of request.registers) {
          outcomes.push({ ...where(spec), ok: false, code: error.code, ...(modbusCode === undefined ? {} : { modbusCode }), message: error.message });
        }
        continue;
      }
      for (const decoded of decodeAnswer(request, words)) {
        if (decoded.value === undefined) {
          outcomes.push({ ...where(decoded.spec), ok: false, code: 'AGENT_ERR_MODBUS_VALUE', message: agentErrors.AGENT_ERR_MODBUS_VALUE().message });
        } else {
          outcomes.push({ ...where(decoded.spec), ok: true, value: decoded.value, alarm: decoded.alarm });
        }
      }
    }
  } finally {
    await bus.close();
  }
  return outcomes;
}
