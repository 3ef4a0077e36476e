/**
 * Stops what a command started, in reverse order, once: on SIGINT/SIGTERM or when the command
 * ends. Only the CLI installs signal handlers.
 */
export interface Shutdown {
  /** `name` says which step a stop that overran was still in (default: the step's source text). */
  add(step: () => Promise<void> | void, name?: string): void;
  /** Runs every step (once, however often called) and resolves when the last has finished. */
  run(): Promise<void>;
  /**
   * Runs the steps as `run` does, but resolves after `deadlineMs` at the latest: `finished: false`
   * and the step still running then (the steps go on; the caller decides whether to wait).
   */
  runWithin(deadlineMs: number): Promise<ShutdownOutcome>;
  /** The step running now, if any. */
  current(): string | undefined;
  /** Called as each step finishes (failed or not), in the order they ran: a command can report its stop. */
  onStepDone(listener: (step: StepDone) => void): void;
}

export interface StepDone {
  readonly name: string;
  /** How long the step took. */
  readonly ms: number;
  /** The step threw (it was reported on stderr); the next steps still ran. */
  readonly failed: boolean;
}

export type ShutdownOutcome = { readonly finished: true; readonly ms: number } | { readonly finished: false; readonly ms: number; readonly step: string; readonly left: number };

/** What a step is called when it was added without a name: its source, on one line, short. */
function nameOf(step: () => unknown): string {
  const text = step.toString().replace(/\s+/g, ' ').trim();
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function createShutdown(now: () => number = () => performance.now()): Shutdown {
  const steps: { readonly run: () => Promise<void> | void; readonly name: string }[] = [];
  const listeners: ((step: StepDone) => void)[] = [];
  let running: Promise<void> | undefined;
  let current: string | undefined;
  let left = 0;
  let started = 0;

  function run(): Promise<void> {
    running ??= (async () => {
      started = now();
      const order = [...steps].reverse();
      left = order.length;
      for (const step of order) {
        current = step.name;
        const t0 = now();
        let failed = false;
        try {
          await step.run();
        } catch (err) {
          failed = true;
          process.stderr.write(`shutdown step failed (${step.name}): ${(err as Error).message}\n`);
        }
        left--;
        const done = { name: step.name, ms: now() - t0, failed };
        for (const listener of listeners) listener(done);
      }
      current = undefined;
    })();
    return running;
  }

  return {
    add: (step, name) => void steps.push({ run: step, name: name ?? nameOf(step) }),
    run,
    runWithin(deadlineMs) {
      const done = run().then((): ShutdownOutcome => ({ finished: true, ms: now() - started }));
      let timer: NodeJS.Timeout | undefined;
      const overran = new Promise<ShutdownOutcome>((resolve) => {
        timer = setTimeout(() => resolve({ finished: false, ms: now() - started, step: current ?? 'none', left }), deadlineMs);
      });
      return Promise.race([done, overran]).finally(() => clearTimeout(timer));
    },
    current: () => current,
    onStepDone: (listener) => void listeners.push(listener),
  };
}
