import { compileSchemaCheck, deepFreeze } from '@cityops/protocol';
import { agentErrors } from '../errors.ts';
import { registerMapSchema, type RegisterMap, type RegisterSpec } from './register-map-schema.ts';

export type RegisterMapResult = { readonly ok: true; readonly map: RegisterMap } | { readonly ok: false; readonly problems: readonly string[] };

/** Registers a value of this type spans (bits for coils and discrete inputs: one). */
export function registerWidth(type: RegisterSpec['type']): 1 | 2 {
  return type === 'int32' || type === 'uint32' || type === 'float32' ? 2 : 1;
}

export function isBitTable(table: RegisterSpec['table']): boolean {
  return table === 'coil' || table === 'discrete';
}

const checkSchema = compileSchemaCheck(registerMapSchema, { useDefaults: true });

/** What the schema cannot say: types per table, widths, unit ranges per bus, unique sensors. */
type Unresolved = Omit<RegisterMap, 'registers'> & { registers: (Omit<RegisterSpec, 'type'> & { type?: RegisterSpec['type'] })[] };

function crossCheck(map: Unresolved): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  map.registers.forEach((r, i) => {
    const at = `/registers/${i}`;
    const bits = isBitTable(r.table);
    r.type ??= bits ? 'bool' : 'int16';
    if (bits && r.type !== 'bool') problems.push(`${at}/type must be bool for a ${r.table} (one bit), not ${r.type}`);
    if (!bits && r.type === 'bool') problems.push(`${at}/type bool is for coils and discrete inputs; a ${r.table} register is int16, uint16, int32, uint32 or float32`);
    if (r.address + registerWidth(r.type) - 1 > 65_535) problems.push(`${at}/address ${r.address} leaves no room for the second register of a ${r.type}`);
    // Modbus over Serial Line V1.02 §2.2: 0 is broadcast (never answered), 248..255 are reserved.
    if (map.connection.kind === 'rtu' && (r.unit < 1 || r.unit > 247)) problems.push(`${at}/unit ${r.unit} must be 1..247 on a serial line`);
    if (r.scale === 0) problems.push(`${at}/scale must not be 0 (every reading would be the offset)`);
    const { above, below } = r.alarm ?? {};
    if (above !== undefined && below !== undefined && below >= above) problems.push(`${at}/alarm/below (${below}) must be under above (${above})`);
    const key = `${r.sensor}\u0000${r.metric}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else problems.push(`${at} repeats sensor ${r.sensor} metric ${r.metric} of /registers/${first}`);
  });
  return problems;
}

/**
 * Checks a register map as it arrives (a file, or a remote configuration): the schema, then what
 * the schema cannot say. Every problem at once, each with its JSON pointer. The input is not
 * touched; a valid map comes back with its defaults filled in, frozen.
 */
export function validateRegisterMap(json: unknown): RegisterMapResult {
  const copy = structuredClone(json);
  const problems = checkSchema(copy);
  if (problems.length > 0) return { ok: false, problems };
  const crossProblems = crossCheck(copy as Unresolved);
  if (crossProblems.length > 0) return { ok: false, problems: crossProblems };
  return { ok: true, map: deepFreeze(copy as RegisterMap) };
}

/** As validateRegisterMap, throwing AGENT_ERR_MODBUS_MAP with every problem. */
export function parseRegisterMap(json: unknown): RegisterMap {
  const result = validateRegisterMap(json);
  if (!result.ok) throw agentErrors.AGENT_ERR_MODBUS_MAP(result.problems.join('; '));
  return result.map;
}
