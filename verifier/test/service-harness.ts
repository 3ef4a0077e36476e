import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';

/** A plain in-process Aedes broker without auth (the ingest broker's ACL does not know the verify topics yet). */
export async function startPlainBroker(): Promise<{ url: string; stop(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A temp directory of reference-data files. */
export async function createDataDir(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return {
    dir,
    path: (name: string) => join(dir, name),
    write: (name: string, value: unknown) => writeFile(join(dir, name), JSON.stringify(value)),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface Posted<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** A JSON POST; `authorization` as the header (a scanner's Basic credentials, a Bearer token). */
export async function post<T = Record<string, unknown>>(url: string, body: unknown, authorization?: string): Promise<Posted<T>> {
  const headers = { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) };
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as T };
}
