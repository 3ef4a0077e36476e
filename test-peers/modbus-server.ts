import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PYMODBUS } from './debian-peers.ts';

/** Debian's python3 (python3-pymodbus is installed for it, not for a pyenv or venv python on PATH). */
const PYTHON = PYMODBUS.path;
const SCRIPT = join(import.meta.dirname, 'modbus-server.py');

export type ModbusTable = 'hr' | 'ir' | 'co' | 'di';

export type ModbusServerMode =
  | { readonly kind: 'tcp'; readonly host?: string }
  | { readonly kind: 'rtu'; readonly path: string; readonly baudRate: number; readonly parity: 'N' | 'E' | 'O'; readonly dataBits: number; readonly stopBits: number };

/**
 * A real Modbus slave: pymodbus 3.0.0 (Debian's python3-pymodbus) over TCP on a port of its own
 * choosing, or RTU on a serial path (one end of a socat pty pair). Values are set, and units dropped
 * and restored, while it runs; each change resolves once the server has applied it.
 */
export interface ModbusServer {
  /** The TCP port (0 for RTU). */
  readonly port: number;
  readonly pid: number;
  set(unit: number, table: ModbusTable, address: number, values: readonly (number | boolean)[]): Promise<void>;
  /** The unit stops answering: requests to it time out, as when a sensor loses power. */
  drop(unit: number): Promise<void>;
  restore(unit: number): Promise<void>;
  /** The server's stderr so far (the last 64 KiB), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

const LOG_LIMIT = 64 * 1024;

export async function startModbusServer(mode: ModbusServerMode, options: { readonly readyTimeoutMs?: number } = {}): Promise<ModbusServer> {
  const args =
    mode.kind === 'tcp'
      ? [SCRIPT, 'tcp', mode.host ?? '127.0.0.1']
      : [SCRIPT, 'rtu', mode.path, String(mode.baudRate), mode.parity, String(mode.dataBits), String(mode.stopBits)];
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    log = (log + text).slice(-LOG_LIMIT);
  });
  const exit = once(child, 'exit').then(
    () => undefined,
    () => undefined,
  );
  let exited = false;
  void exit.then(() => {
    exited = true;
  });
  const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let sent = 0;
  let port = 0;

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pymodbus server not ready after ${options.readyTimeoutMs ?? 15_000} ms:\n${log}`)), options.readyTimeoutMs ?? 15_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${PYTHON} (Debian's python3 with python3-pymodbus; scripts/install-peers.sh installs it)`, { cause: err }));
    });
    void exit.then(() => {
      clearTimeout(timer);
      const failure = new Error(`pymodbus server exited with ${child.exitCode ?? child.signalCode}:\n${log}`);
      reject(failure);
      for (const w of waiting.values()) w.reject(failure);
      waiting.clear();
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: boolean; port?: number; ok?: boolean; seq?: number; error?: string };
      if (message.ready === true) {
        port = message.port ?? 0;
        clearTimeout(timer);
        resolve();
        return;
      }
      const waiter = waiting.get(message.seq ?? -1);
      if (waiter === undefined) return;
      waiting.delete(message.seq!);
      if (message.ok === true) waiter.resolve();
      else waiter.reject(new Error(`pymodbus server refused a command: ${message.error ?? '?'}`));
    });
  });

  function command(body: object): Promise<void> {
    if (exited) return Promise.reject(new Error(`pymodbus server has exited:\n${log}`));
    const seq = ++sent;
    return new Promise((resolve, reject) => {
      waiting.set(seq, { resolve, reject });
      child.stdin.write(`${JSON.stringify(body)}\n`);
    });
  }

  async function stop(): Promise<void> {
    if (exited) return;
    child.stdin.end();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(killer);
  }

  try {
    await ready;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    pid: child.pid!,
    set: (unit, table, address, values) => command({ op: 'set', unit, table, address, values: values.map((v) => (typeof v === 'boolean' ? Number(v) : v)) }),
    drop: (unit) => command({ op: 'drop', unit }),
    restore: (unit) => command({ op: 'restore', unit }),
    log: () => log,
    stop,
  };
}
