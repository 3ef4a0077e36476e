import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { resolve } from 'node:path';
import { withInsertDelay, type Warehouse } from '@cityops/warehouse';
import { cliErrors } from './cli-errors.ts';

/** `--slow-inserts-ms N` and `--slow-inserts-file FILE`, as parseArgs gives them. */
export interface SlowInsertsValues {
  readonly 'slow-inserts-ms'?: string | undefined;
  readonly 'slow-inserts-file'?: string | undefined;
}

export const slowInsertsUsage = `  --slow-inserts-ms N (drills and benchmarks): hold each telemetry insert into the warehouse N ms, as a slow
  warehouse would; --slow-inserts-file FILE: the delay is the number of ms in FILE, read again whenever it
  changes (a missing or empty file: --slow-inserts-ms, default 0), to make the warehouse slow and fast again
  while the process runs; each delay taken is printed ({"insertDelayMs": N, "change": K} where the command prints JSON)`;

/** How often the delay file is looked at (fs.watchFile polls: it sees a file replaced or created later). */
const FILE_POLL_MS = 250;

function parseDelay(text: string, where: string): number {
  const ms = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(ms)) throw cliErrors.CLI_ERR_USAGE(`${where}: "${text.trim()}" is not a whole number of ms >= 0`);
  return ms;
}

/**
 * The warehouse ingest writes through: `warehouse` itself without the options, else wrapped so that
 * each bulk insert waits the delay. `stop` ends the watch of the delay file (idempotent).
 */
export function slowInsertsFrom(
  values: SlowInsertsValues,
  warehouse: Warehouse,
  /** Each delay taken: the first at start (change 0), then one per change of the file (1, 2, ...). */
  onDelay: (ms: number, change: number) => void,
): { readonly warehouse: Warehouse; stop(): void } {
  const fileOption = values['slow-inserts-file'];
  if (values['slow-inserts-ms'] === undefined && fileOption === undefined) return { warehouse, stop: () => undefined };
  const base = values['slow-inserts-ms'] === undefined ? 0 : parseDelay(values['slow-inserts-ms'], '--slow-inserts-ms');
  let delayMs = base;
  let changes = 0;
  const take = (ms: number) => {
    if (ms === delayMs) return;
    delayMs = ms;
    onDelay(ms, ++changes);
  };
  if (fileOption === undefined) {
    onDelay(delayMs, 0);
    return { warehouse: withInsertDelay(warehouse, { delayMs }), stop: () => undefined };
  }
  const file = resolve(fileOption);
  const read = (): number => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return base;
      throw cliErrors.CLI_ERR_USAGE(`--slow-inserts-file ${file}: cannot read it`, err);
    }
    return text.trim() === '' ? base : parseDelay(text, `--slow-inserts-file ${file}`);
  };
  delayMs = read();
  onDelay(delayMs, 0);
  // persistent: false, so the watch never keeps the process alive on its own.
  watchFile(file, { interval: FILE_POLL_MS, persistent: false }, () => {
    try {
      take(read());
    } catch (err) {
      // A half-written or wrong file: keep the delay in force and say why.
      process.stderr.write(`${(err as Error).message}; the insert delay stays ${delayMs} ms\n`);
    }
  });
  let watching = true;
  return {
    warehouse: withInsertDelay(warehouse, { delayMs: () => delayMs }),
    stop() {
      if (watching) unwatchFile(file);
      watching = false;
    },
  };
}
