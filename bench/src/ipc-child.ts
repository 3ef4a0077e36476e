import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { profileNodeArgs } from './profiling/profile-capture.ts';

/** Every message a child sends has a type; `{ type: 'error', message }` fails whatever is awaited. */
export interface IpcMessage {
  readonly type: string;
}

export interface IpcChild<Command extends object, Message extends IpcMessage> {
  readonly pid: number;
  send(command: Command): void;
  /** The next message of `type` (an `error` message, the child's exit or the timeout reject). */
  next<T extends Message['type']>(type: T, timeoutMs: number): Promise<Extract<Message, { type: T }>>;
  /** Sends `command` and resolves with the reply of `type`. */
  request<T extends Message['type']>(command: Command, type: T, timeoutMs: number): Promise<Extract<Message, { type: T }>>;
  /** Kills the process if it is still there (idempotent). */
  close(): Promise<void>;
}

/**
 * Forks a TypeScript file of the bench (through tsx) that talks over the IPC channel, and waits for
 * its `{ type: 'ready' }`: a load or an attack in a process of its own, so its CPU and memory are its
 * own and the bench process stays a light observer. `name` says whose failure a message reports.
 */
export async function forkIpcChild<Command extends object, Message extends IpcMessage>(
  file: URL,
  args: readonly string[],
  name: string,
  readyTimeoutMs: number,
): Promise<IpcChild<Command, Message>> {
  const profile = profileNodeArgs();
  const child: ChildProcess = fork(file, [...args], { execArgv: [...profile, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  exited.catch(() => undefined);

  function next<T extends Message['type']>(type: T, ms: number): Promise<Extract<Message, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (raw: unknown) => {
        const m = raw as Message & { message?: string };
        if (m.type === 'error') finish(() => reject(new Error(`${name}: ${String(m.message)}`)));
        else if (m.type === type) finish(() => resolve(m as Extract<Message, { type: T }>));
      };
      const onExit = () => finish(() => reject(new Error(`${name} exited (${String(child.exitCode ?? child.signalCode)}) before sending ${type}`)));
      const timer = setTimeout(() => finish(() => reject(new Error(`${name} sent no ${type} in ${ms} ms`))), ms);
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
  const send = (command: Command) => void child.send(command);

  try {
    await next('ready', readyTimeoutMs);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid!,
    send,
    next,
    request(command, type, ms) {
      const reply = next(type, ms);
      send(command);
      return reply;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Profiled (--profile), it exits on SIGTERM so that --cpu-prof writes its profile (SIGKILL
      // after 10 s); otherwise SIGKILL at once, as always.
      const killer = profile.length > 0 ? setTimeout(() => child.kill('SIGKILL'), 10_000) : undefined;
      child.kill(profile.length > 0 ? 'SIGTERM' : 'SIGKILL');
      await exited;
      clearTimeout(killer);
    },
  };
}
