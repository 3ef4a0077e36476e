/**
 * Stops what a command started, in reverse order, once: on SIGINT/SIGTERM or when the command
 * ends. Only the CLI installs signal handlers.
 */
export interface Shutdown {
  add(step: () => Promise<void> | void): void;
  run(): Promise<void>;
}

export function createShutdown(): Shutdown {
  const steps: (() => Promise<void> | void)[] = [];
  let running: Promise<void> | undefined;
  return {
    add: (step) => void steps.push(step),
    run() {
      running ??= (async () => {
        for (const step of steps.reverse()) {
          try {
            await step();
          } catch (err) {
            process.stderr.write(`shutdown step failed: ${(err as Error).message}\n`);
          }
        }
      })();
      return running;
    },
  };
}
