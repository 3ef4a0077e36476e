import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { systemTimers } from '../../agent-deps.ts';
import type { ScanInput } from '../scanner-agent.ts';
import type { ScanSource } from '../scan-source.ts';
import type { FrameSourceDeps } from './frame-command-source.ts';
import { parseFrameFolderSourceConfig, type FrameFolderSourceConfigInput } from './frame-source-config.ts';
import { createFramePipeline, type FrameStats } from './frame-pipeline.ts';
import { imageErrors } from './image-errors.ts';

export interface FrameFolderSourceStats extends FrameStats {
  /** Folder listings made. */
  scans: number;
  /** Files seen but left for a later listing because maxPending were waiting. */
  deferred: number;
  pending: number;
}

const IMAGE_NAME = /^[^.].*\.(png|jpe?g)$/i;

/**
 * Image files appearing in a folder (a tablet's camera app, uploaded screenshots): each PNG/JPEG
 * is read once, in name order of its listing; files beginning with a dot are ignored, so a writer
 * writes `.name.tmp` and renames it into place. A name read is not read again while the file stays
 * (a file of the same name that appears after it was removed is new). Listed on every watch event
 * and every `rescanMs`.
 */
export function createFrameFolderSource(input: FrameFolderSourceConfigInput, deps: FrameSourceDeps = {}): ScanSource<FrameFolderSourceStats> {
  const config = parseFrameFolderSourceConfig(input);
  const logger = deps.logger ?? pino({ name: 'frame-folder-source' });
  const timers = deps.timers ?? systemTimers;
  const pipeline = createFramePipeline(config, { logger, ...(deps.now === undefined ? {} : { now: deps.now }), ...(deps.qr === undefined ? {} : { qr: deps.qr }) });
  const counts = { scans: 0, deferred: 0 };
  // Names queued or read, in that order (the oldest first, for maxSeen).
  const seen = new Set<string>();
  const pending: string[] = [];
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  let interval: unknown;
  let scanning: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let iterator: AsyncGenerator<ScanInput> | undefined;

  async function list(): Promise<void> {
    counts.scans++;
    let names: string[];
    try {
      names = (await readdir(config.dir)).filter((name) => IMAGE_NAME.test(name)).sort();
    } catch (err) {
      logger.warn({ err: imageErrors.IMAGE_ERR_IO(`${config.dir}: ${(err as Error).message}`, err) }, 'frame folder not listed');
      return;
    }
    const present = new Set(names);
    for (const name of seen) if (!present.has(name) && !pending.includes(name)) seen.delete(name);
    for (const name of names) {
      if (seen.has(name)) continue;
      if (pending.length >= config.maxPending) {
        counts.deferred++;
        continue;
      }
      pending.push(name);
      seen.add(name);
      if (seen.size > config.maxSeen) seen.delete(seen.values().next().value!);
    }
    if (pending.length > 0) {
      const w = wake;
      wake = undefined;
      w?.();
    }
  }

  /** One listing at a time; an event during one asks for one more after it. */
  function rescan(): void {
    if (stopped) return;
    if (scanning !== undefined) {
      again = true;
      return;
    }
    scanning = list().finally(() => {
      scanning = undefined;
      if (again) {
        again = false;
        rescan();
      }
    });
  }

  function start(): void {
    try {
      watcher = watch(config.dir, () => rescan());
      watcher.on('error', (err) => logger.warn({ err }, 'frame folder watch failed; listing every rescanMs'));
    } catch (err) {
      logger.warn({ err: imageErrors.IMAGE_ERR_IO(`${config.dir}: ${(err as Error).message}`, err) }, 'frame folder not watched; listing every rescanMs');
    }
    interval = timers.setInterval(rescan, config.rescanMs);
    rescan();
  }

  async function* run(): AsyncGenerator<ScanInput> {
    while (!stopped) {
      const name = pending.shift();
      if (name === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      for (const qr of await pipeline.codesOf({ path: join(config.dir, name) })) {
        if (stopped) return;
        yield { qr };
      }
    }
  }

  return {
    [Symbol.asyncIterator]() {
      if (iterator === undefined) {
        start();
        iterator = run();
      }
      return iterator;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      watcher?.close();
      timers.clearInterval(interval);
      const w = wake;
      wake = undefined;
      w?.();
      await scanning;
    },
    stats: () => ({ ...pipeline.stats, ...counts, pending: pending.length }),
  };
}
