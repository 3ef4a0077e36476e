/**
 * Open-loop pacing over a fleet of QoS 1 clients: a rate earns credit as time passes, and each tick
 * spends it round-robin over the clients that have room in their window of unacknowledged messages.
 * A client whose window is full is skipped, so a slow broker shows as a lower rate, never as an
 * unbounded queue in the load generator. Shared by the soak's gateways and the relay's scanners.
 */
export interface CreditPacerConfig {
  readonly clients: number;
  /** Messages in flight per client at most. */
  readonly inflight: number;
  /** The most credit kept, in seconds of the rate (at least one message): the largest burst after a stall. */
  readonly burstSeconds: number;
}

export interface CreditPacer {
  /** Messages per second from now on (0 pauses); the credit starts again from zero. */
  setRate(perSecond: number): void;
  /** Spends the credit earned since the last tick: `send(index)` for each message. */
  tick(): void;
  /** A message of client `index` was answered or failed: its window has room again. */
  done(index: number): void;
  /** Messages sent and not yet done, over every client. */
  inflight(): number;
}

export function createCreditPacer(config: CreditPacerConfig, send: (index: number) => void): CreditPacer {
  const open = new Array<number>(config.clients).fill(0);
  let perSecond = 0;
  let credit = 0;
  let last = performance.now();
  let next = 0;
  let total = 0;
  return {
    setRate(rate) {
      perSecond = rate;
      credit = 0; // what the old rate earned is not spent at the new one
    },
    tick() {
      const now = performance.now();
      credit = Math.min(credit + ((now - last) / 1000) * perSecond, Math.max(1, perSecond * config.burstSeconds));
      last = now;
      let idle = 0;
      while (credit >= 1 && idle < config.clients) {
        const index = next;
        next = (next + 1) % config.clients;
        if (open[index]! >= config.inflight) {
          idle++;
          continue;
        }
        idle = 0;
        credit -= 1;
        open[index]!++;
        total++;
        send(index);
      }
    },
    done(index) {
      open[index]!--;
      total--;
    },
    inflight: () => total,
  };
}
