import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { LoadCommand, LoadMessage, LoadProcessConfig } from './soak-load-messages.ts';

type Of<T extends LoadMessage['type']> = Extract<LoadMessage, { type: T }>;

export interface SoakLoad {
  readonly pid: number;
  setRate(readingsPerSecond: number): void;
  sample(timeoutMs?: number): Promise<Of<'sample'>>;
  /** Stops publishing, lets PUBACKs in flight arrive, and returns what was acknowledged. */
  finish(timeoutMs?: number): Promise<Of<'ledger'>>;
  /** Kills the process if it is still there (idempotent). */
  close(): Promise<void>;
}

/** Forks the soak's load generator (soak-load-process.ts, through tsx) and waits until its gateways are connected. */
export async function startSoakLoad(config: LoadProcessConfig, timeoutMs = 120_000): Promise<SoakLoad> {
  const child: ChildProcess = fork(new URL('./soak-load-process.ts', import.meta.url), [JSON.stringify(config)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  exited.catch(() => undefined);

  function next<T extends LoadMessage['type']>(type: T, ms: number): Promise<Of<T>> {
    return new Promise((resolve, reject) => {
      const onMessage = (raw: unknown) => {
        const m = raw as LoadMessage;
        if (m.type === 'error') finish(() => reject(new Error(`soak load: ${m.message}`)));
        else if (m.type === type) finish(() => resolve(m as Of<T>));
      };
      const onExit = () => finish(() => reject(new Error(`soak load exited (${String(child.exitCode ?? child.signalCode)}) before sending ${type}`)));
      const timer = setTimeout(() => finish(() => reject(new Error(`soak load sent no ${type} in ${ms} ms`))), ms);
      function finish(then: () => void) {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        then();
      }
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }
  const send = (command: LoadCommand) => child.send(command);

  try {
    await next('ready', timeoutMs);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid!,
    setRate: (readingsPerSecond) => send({ type: 'rate', readingsPerSecond }),
    sample(ms = 10_000) {
      const reply = next('sample', ms);
      send({ type: 'sample' });
      return reply;
    },
    finish(ms = 60_000) {
      const reply = next('ledger', ms);
      send({ type: 'stop' });
      return reply;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
