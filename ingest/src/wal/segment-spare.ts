import { open } from 'node:fs/promises';

/** The next segment's file, filled with zeros ahead of use (see WriteAheadLogConfig.preallocate). */
export interface SegmentSpare {
  /** The segment id the file is named for. */
  readonly id: number;
  /**
   * Stops the filling (at most one more chunk is written) and resolves true when the whole file was
   * filled and made durable, its name included; false when it was cut short or failed (disk full):
   * the segment is then written the plain way.
   */
  finish(): Promise<boolean>;
}

export interface SegmentSpareConfig {
  readonly id: number;
  readonly path: string;
  readonly bytes: number;
  /** fdatasync the file and fsync its directory once filled (off only where the log does not sync). */
  readonly sync: boolean;
  readonly syncDir: () => Promise<void>;
}

const CHUNK = 1 << 20;

export function startSegmentSpare(config: SegmentSpareConfig): SegmentSpare {
  let stopped = false;
  const zeros = Buffer.alloc(Math.min(CHUNK, config.bytes));
  const filled = (async () => {
    const fh = await open(config.path, 'w');
    try {
      for (let at = 0; at < config.bytes; at += zeros.length) {
        if (stopped) return false;
        await fh.write(zeros, 0, Math.min(zeros.length, config.bytes - at), at);
      }
      if (config.sync) await fh.datasync();
    } finally {
      await fh.close();
    }
    if (config.sync) await config.syncDir();
    return true;
  })().catch(() => false);
  return {
    id: config.id,
    finish() {
      stopped = true;
      return filled;
    },
  };
}
