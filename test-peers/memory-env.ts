import { readFileSync } from 'node:fs';

const MEMORY_ENV_FILE = new URL('../scripts/memory.env', import.meta.url);

/** The allocator and heap settings every cityops process runs with (scripts/memory.env), as `npm start` sets them. */
export function memoryEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(MEMORY_ENV_FILE, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq <= 0) continue;
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}
