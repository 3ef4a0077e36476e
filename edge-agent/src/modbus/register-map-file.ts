import { open } from 'node:fs/promises';
import { agentErrors } from '../errors.ts';
import type { RegisterMap } from './register-map-schema.ts';
import { validateRegisterMap, type RegisterMapResult } from './register-map.ts';

/** 10,000 registers of a few hundred bytes each fit several times over; a larger file is no map. */
export const MAX_REGISTER_MAP_BYTES = 8 * 1024 * 1024;

/**
 * A register map from a file an installer hands us: at most MAX_REGISTER_MAP_BYTES read (a larger
 * file is refused before it is parsed), JSON, then validateRegisterMap. Every failure is a problem
 * of the result, never a throw, so `--check` can report it with the others.
 */
export async function readRegisterMapFile(file: string): Promise<RegisterMapResult> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(MAX_REGISTER_MAP_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_REGISTER_MAP_BYTES) return { ok: false, problems: [`${file}: larger than ${MAX_REGISTER_MAP_BYTES} bytes`] };
      text = buffer.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    return { ok: false, problems: [`${file}: ${(err as Error).message}`] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`${file}: not JSON (${(err as Error).message.slice(0, 200)})`] };
  }
  return validateRegisterMap(json);
}

/** As readRegisterMapFile, throwing AGENT_ERR_MODBUS_MAP with every problem. */
export async function loadRegisterMapFile(file: string): Promise<RegisterMap> {
  const result = await readRegisterMapFile(file);
  if (!result.ok) throw agentErrors.AGENT_ERR_MODBUS_MAP(result.problems.join('; '));
  return result.map;
}
