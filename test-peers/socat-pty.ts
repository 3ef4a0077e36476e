import { constants } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './daemon-process.ts';

/**
 * A serial line made of two pseudo-terminals joined by Debian's socat: `device` is the end a scanner
 * agent opens, as it would /dev/ttyUSB0; `peer` is the scanner hardware's end, where a test types
 * codes. Killing socat is unplugging the device (both links go, the open end reads EIO); starting it
 * again on the same link paths is plugging it back in.
 */
export interface PtyPair {
  readonly device: string;
  readonly peer: string;
  readonly plugged: boolean;
  /** Bytes as the scanner hardware sends them, in one write. */
  type(data: string | Buffer): Promise<void>;
  unplug(): Promise<void>;
  plug(): Promise<void>;
  /** Unplugs if plugged; the caller owns `dir`. */
  stop(): Promise<void>;
}

/** Pairs whose links live in `dir` (`device`, `peer`). Plugged in at once unless `plugged: false`. */
export async function startPtyPair(dir: string, options: { readonly plugged?: boolean; readonly binary?: string } = {}): Promise<PtyPair> {
  const device = join(dir, 'device');
  const peer = join(dir, 'peer');
  let socat: Daemon | undefined;

  async function plug(): Promise<void> {
    if (socat !== undefined) return;
    try {
      socat = await startDaemon({
        name: 'socat',
        binary: options.binary ?? 'socat',
        args: ['-d', '-d', `pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${peer}`],
        // startDaemon removes this on stop: a scratch directory, never the links' own.
        dir: await mkdtemp(join(tmpdir(), 'cityops-socat-')),
        // Printed once both ptys exist and their links are made.
        ready: (log) => log.includes('starting data transfer loop'),
        readyTimeoutMs: 10_000,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error('socat is not installed: the serial scanner tests need Debian\'s socat (scripts/install-peers.sh installs it)', { cause: err });
      }
      throw err;
    }
  }

  async function unplug(): Promise<void> {
    const running = socat;
    socat = undefined;
    await running?.stop();
  }

  if (options.plugged !== false) await plug();
  return {
    device,
    peer,
    get plugged() {
      return socat !== undefined;
    },
    // O_NOCTTY: the test process must not take the pty as its controlling terminal.
    type: (data) => writeFile(peer, data, { flag: constants.O_WRONLY | constants.O_NOCTTY }),
    plug,
    unplug,
    stop: unplug,
  };
}
