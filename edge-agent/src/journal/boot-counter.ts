import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentErrors } from '../errors.ts';
import { writeFileAtomic } from './fs-durability.ts';

export const MAX_BOOT = 0xffff_ffff;

export interface BootAdvance {
  readonly boot: number;
  /** The boot file was missing or unreadable, so the boot was derived from the clock. */
  readonly fromClock: boolean;
  /** Why the stored counter could not be used, when it existed but was damaged. */
  readonly problem?: string;
}

/**
 * Increments the boot counter kept in `dir/boot` and persists it before the agent sends anything.
 * `(device, boot, seq)` is the batch key ingest deduplicates on, so a boot must never repeat:
 * - it is above every boot still found in the journal (`journalMaxBoot`);
 * - on first start, or when the file is damaged or lost, it starts from the clock (seconds since
 *   the epoch), which is above any counter the device used before, unless it restarted more than
 *   once a second for its whole life. A fresh SD card therefore never replays old keys.
 */
export async function advanceBootCounter(dir: string, journalMaxBoot: number, nowMs: number): Promise<BootAdvance> {
  const path = join(dir, 'boot');
  let stored: number | undefined;
  let problem: string | undefined;
  try {
    const text = await readFile(path, 'utf8');
    if (/^\d{1,10}\n?$/.test(text) && Number(text) <= MAX_BOOT) stored = Number(text);
    else problem = `boot file holds ${JSON.stringify(text.slice(0, 20))}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problem = (err as Error).message;
  }
  const fromClock = stored === undefined;
  const clockBoot = Math.floor(nowMs / 1000);
  const boot = Math.max(stored === undefined ? clockBoot : stored + 1, journalMaxBoot + 1, 1);
  if (boot > MAX_BOOT) {
    throw agentErrors.AGENT_ERR_JOURNAL_CORRUPT(`boot counter would pass ${MAX_BOOT}; reset ${path} after ingest forgot this device's keys`);
  }
  await writeFileAtomic(path, `${boot}\n`);
  return { boot, fromClock, ...(problem === undefined ? {} : { problem }) };
}
