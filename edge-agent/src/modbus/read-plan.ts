import type { ModbusTable, RegisterMap, RegisterSpec } from './register-map-schema.ts';
import { isBitTable, registerWidth } from './register-map.ts';

/** One Modbus read request and the register specs its answer feeds. */
export interface ReadRequest {
  readonly unit: number;
  readonly table: ModbusTable;
  readonly address: number;
  /** Registers (or bits) asked for. */
  readonly count: number;
  readonly intervalMs: number;
  /** Each spec with its position in the answer. */
  readonly registers: readonly { readonly spec: RegisterSpec; readonly at: number }[];
}

/**
 * Modbus Application Protocol V1.1b3 §6.1-6.4: one request reads at most 2000 coils or discrete
 * inputs, or 125 holding or input registers.
 */
export const MAX_BITS_PER_REQUEST = 2000;
export const MAX_REGISTERS_PER_REQUEST = 125;

/**
 * Groups a map's registers into as few requests as the protocol allows: same unit, table and
 * interval, addresses adjacent (or at most `maxGap` apart), within the per-request limit.
 */
export function planReads(map: Pick<RegisterMap, 'registers' | 'maxGap'>): ReadRequest[] {
  const groups = new Map<string, RegisterSpec[]>();
  for (const spec of map.registers) {
    const key = `${spec.unit}/${spec.table}/${spec.intervalMs}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [spec]);
    else group.push(spec);
  }
  const requests: ReadRequest[] = [];
  for (const specs of groups.values()) {
    specs.sort((a, b) => a.address - b.address);
    const first = specs[0]!;
    const limit = isBitTable(first.table) ? MAX_BITS_PER_REQUEST : MAX_REGISTERS_PER_REQUEST;
    let start = first.address;
    let end = first.address + registerWidth(first.type); // exclusive
    let members: RegisterSpec[] = [];
    const close = () => {
      requests.push({
        unit: first.unit,
        table: first.table,
        address: start,
        count: end - start,
        intervalMs: first.intervalMs,
        registers: members.map((spec) => ({ spec, at: spec.address - start })),
      });
    };
    for (const spec of specs) {
      const specEnd = spec.address + registerWidth(spec.type);
      const joins = members.length > 0 && spec.address <= end + map.maxGap && Math.max(end, specEnd) - start <= limit;
      if (!joins && members.length > 0) {
        close();
        members = [];
      }
      if (members.length === 0) {
        start = spec.address;
        end = specEnd;
      }
      members.push(spec);
      end = Math.max(end, specEnd);
    }
    close();
  }
  return requests;
}
