import { createWakeableDelay, systemTimers, type Random, type ScanInput, type ScanSource, type Timers } from '@cityops/edge-agent';
import { pickCodeClass, type CodeClass, type CodeMix, type ScannerCodeMint } from './scanner-code-mix.ts';

/** A scan with what the simulator expects of it. */
export interface SimulatedScan extends ScanInput {
  readonly venue: string;
  readonly codeClass: CodeClass;
  readonly expectedReason: string;
}

export interface SimulatedScanSourceConfig {
  readonly venue: string;
  readonly mix: CodeMix;
  /** The mix at a moment, when an incident changes it (a forged-code ring at this door); absent or undefined: `mix`. */
  readonly mixAt?: ((nowMs: number) => CodeMix | undefined) | undefined;
  /** Codes per second at this door; absent: as fast as the door takes them. */
  readonly ratePerSecond?: number | undefined;
  /** End after this many codes. */
  readonly limit?: number | undefined;
  /** With a rate: codes that fell due while the door lagged beyond this many are skipped (counted). */
  readonly maxBacklog?: number | undefined;
  readonly tickMs?: number | undefined;
}

export interface SimulatedScanSourceStats {
  codes: number;
  skipped: number;
}

/**
 * People at one door: an async iterable of minted codes in the configured mix. Pulling, so a slow
 * door slows the queue; with a rate, codes fall due on the clock and those beyond `maxBacklog`
 * while the door lags are skipped rather than held.
 */
export function createSimulatedScanSource(
  config: SimulatedScanSourceConfig,
  deps: { readonly mint: ScannerCodeMint; readonly random: Random; readonly timers?: Timers; readonly now?: () => number },
): ScanSource<SimulatedScanSourceStats> & AsyncIterable<SimulatedScan> {
  const timers = deps.timers ?? systemTimers;
  const now = deps.now ?? Date.now;
  const tickMs = config.tickMs ?? 100;
  const maxBacklog = config.maxBacklog ?? 100;
  const stats: SimulatedScanSourceStats = { codes: 0, skipped: 0 };
  let stopped = false;
  let iterator: AsyncGenerator<SimulatedScan> | undefined;

  const pause = createWakeableDelay(timers);

  async function* run(): AsyncGenerator<SimulatedScan> {
    const started = now();
    // Codes produced or skipped since the start: what the clock has made due so far.
    let accounted = 0;
    while (!stopped && (config.limit === undefined || stats.codes < config.limit)) {
      if (config.ratePerSecond !== undefined) {
        const due = Math.floor(((now() - started) / 1000) * config.ratePerSecond);
        if (due <= accounted) {
          await pause.wait(Math.max(1, Math.min(tickMs, ((accounted + 1) / config.ratePerSecond) * 1000 - (now() - started))));
          continue;
        }
        if (due - accounted > maxBacklog) {
          stats.skipped += due - accounted - maxBacklog;
          accounted = due - maxBacklog;
        }
      }
      const mix = config.mixAt?.(now()) ?? config.mix;
      const minted = deps.mint.mint(pickCodeClass(mix, deps.random), config.venue, deps.random);
      stats.codes++;
      accounted++;
      yield { qr: minted.qr, venue: config.venue, codeClass: minted.codeClass, expectedReason: minted.expectedReason };
    }
  }

  return {
    [Symbol.asyncIterator]() {
      iterator ??= run();
      return iterator;
    },
    stop() {
      stopped = true;
      pause.wake();
      return Promise.resolve();
    },
    stats: () => ({ ...stats }),
  };
}
