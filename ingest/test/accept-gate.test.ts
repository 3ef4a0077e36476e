import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAcceptGate } from '../src/accept-gate.ts';

const logger = pino({ level: 'silent' });

/** A listening server's handle as the gate sees it, with accepted handles that say their address. */
function fakeServer() {
  const admitted: string[] = [];
  const handle = {
    onconnection(this: unknown, _status: number, client: { address: string }) {
      admitted.push(client.address);
    },
  };
  return { server: { _handle: handle } as unknown as Server, handle, admitted };
}

function fakeHandle(address: string) {
  return {
    address,
    closed: false,
    getpeername(out: { address?: string }) {
      out.address = `::ffff:${address}`;
      return 0;
    },
    close() {
      this.closed = true;
    },
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('accept gate', () => {
  it('lets perTurn connections through per turn of the loop, in accept order, and closes refused ones as bare handles', async () => {
    const refused = vi.fn();
    const gate = createAcceptGate({ perTurn: 2, maxQueued: 100 }, { refusal: (a) => (a === '10.0.0.66' ? 'address_connections' : undefined), refused, logger });
    const { server, handle, admitted } = fakeServer();
    expect(gate.attach(server)).toBe(true);
    const handles = ['10.0.0.1', '10.0.0.66', '10.0.0.2', '10.0.0.3', '10.0.0.66'].map(fakeHandle);
    // libuv hands over a whole backlog in one callback run: nothing is let through during it.
    for (const h of handles) handle.onconnection(0, h);
    expect(admitted).toEqual([]);
    await nextTurn();
    expect(admitted).toEqual(['10.0.0.1']);
    expect(handles[1]!.closed).toBe(true);
    expect(refused).toHaveBeenCalledWith('address_connections', '10.0.0.66');
    await nextTurn();
    expect(admitted).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    await nextTurn();
    expect(handles[4]!.closed).toBe(true);
    expect(refused).toHaveBeenCalledTimes(2);
    expect(handles.filter((h) => !h.closed).map((h) => h.address)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    gate.stop();
  });

  it('closes a connection at once when the queue is full, and the waiting ones at stop', async () => {
    const refused = vi.fn();
    const gate = createAcceptGate({ perTurn: 1, maxQueued: 2 }, { refusal: () => undefined, refused, logger });
    const { server, handle, admitted } = fakeServer();
    gate.attach(server);
    const handles = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map(fakeHandle);
    for (const h of handles) handle.onconnection(0, h);
    expect(handles.map((h) => h.closed)).toEqual([false, false, true]);
    expect(refused).toHaveBeenCalledWith('accept_queue', 'unknown');
    await nextTurn();
    expect(admitted).toEqual(['10.0.0.1']);
    gate.stop();
    expect(handles[1]!.closed).toBe(true);
    await nextTurn();
    expect(admitted).toEqual(['10.0.0.1']);
  });

  it('runs ungated, and says so, where the server has no accept hook', () => {
    const warn = vi.fn();
    const gate = createAcceptGate({ perTurn: 1, maxQueued: 1 }, { refusal: () => undefined, refused: vi.fn(), logger: { warn } as never });
    expect(gate.attach({} as Server)).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  describe('on a real listening server', () => {
    let server: Server | undefined;
    const clients: Socket[] = [];
    afterEach(async () => {
      for (const c of clients) c.destroy();
      clients.length = 0;
      await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
    });

    it('a refused connection never becomes a socket: no connection event, and the peer sees it closed', async () => {
      let admittedSoFar = 0;
      const sockets: Socket[] = [];
      server = createServer((socket) => {
        sockets.push(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const refused = vi.fn();
      const gate = createAcceptGate({ perTurn: 8, maxQueued: 1000 }, { refusal: () => (admittedSoFar++ < 5 ? undefined : 'address_connections'), refused, logger });
      expect(gate.attach(server)).toBe(true);
      const port = (server.address() as { port: number }).port;
      const closedByServer = Array.from({ length: 40 }, () => {
        const client = connect({ host: '127.0.0.1', port });
        client.on('error', () => undefined);
        clients.push(client);
        return once(client, 'close').then(() => true);
      });
      await vi.waitFor(() => expect(refused).toHaveBeenCalledTimes(35), { timeout: 15_000 });
      expect(sockets).toHaveLength(5);
      expect(refused).toHaveBeenCalledWith('address_connections', '127.0.0.1');
      // The 35 refused peers are closed; the 5 admitted stay open until the test ends.
      for (const s of sockets) s.destroy();
      expect(await Promise.all(closedByServer)).toHaveLength(40);
      gate.stop();
    });
  });
});
