import { readdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { getPriority } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SCHED_IDLE, schedulingPolicy, startAttacker } from '../src/hostile-attack-client.ts';
import { connectPacket, createAttack, type Attack } from '../src/hostile-attacks.ts';

// The hostile bench's attacker against a plain TCP server standing in for the broker: what each
// attack puts on the wire, and that it reopens what the server closes and closes all when stopped.
describe('hostile bench attacks', () => {
  let server: Server | undefined;
  let attack: Attack | undefined;
  const accepted: Socket[] = [];

  afterEach(async () => {
    await attack?.stop();
    attack = undefined;
    for (const s of accepted.splice(0)) s.destroy();
    await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
    server = undefined;
  });

  /** A server on 127.0.0.1, port 0, calling `onSocket` with each accepted socket and the bytes it sent so far. */
  async function listen(onSocket: (socket: Socket, received: () => Buffer) => void): Promise<number> {
    server = createServer((socket) => {
      accepted.push(socket);
      const chunks: Buffer[] = [];
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      onSocket(socket, () => Buffer.concat(chunks));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  it('writes a CONNECT declaring 268,435,455 bytes, streams zeros, and reopens each socket the broker closes', async () => {
    const headers: Buffer[] = [];
    const from = new Set<string>();
    const port = await listen((socket, received) => {
      from.add(socket.remoteAddress!);
      socket.on('data', () => {
        if (received().length < 64 * 1024) return;
        headers.push(received().subarray(0, 5));
        socket.destroy();
      });
    });
    attack = createAttack({ host: '127.0.0.1', port }, { kind: 'oversized_connect', addresses: ['127.0.0.2', '127.0.0.3'], perAddress: 1, reopenAfterMs: 0, waveSize: 10 });
    attack.start();
    await vi.waitFor(() => expect(headers.length).toBeGreaterThanOrEqual(6), { timeout: 10_000 });
    const stats = await attack.stop();
    attack = undefined;
    expect(headers.every((h) => h.equals(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])))).toBe(true);
    expect([...from].sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    expect(stats.closedByBroker).toBeGreaterThanOrEqual(6);
    expect(stats.attempts).toBeGreaterThanOrEqual(stats.closedByBroker);
    expect(stats.bytesSent).toBeGreaterThanOrEqual(6 * 64 * 1024);
  });

  it('logs in with a hand-written CONNECT, then declares an oversized PUBLISH after the CONNACK', async () => {
    const seen: Buffer[] = [];
    const port = await listen((socket, received) => {
      let acked = false;
      socket.on('data', () => {
        const bytes = received();
        const connectLength = 2 + bytes[1]!;
        if (!acked && bytes.length >= connectLength) {
          acked = true;
          socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
        }
        if (acked && bytes.length >= connectLength + 5) {
          seen.push(bytes);
          socket.destroy();
        }
      });
    });
    attack = createAttack({ host: '127.0.0.1', port }, { kind: 'oversized_publish', addresses: ['127.0.0.4'], perAddress: 1, reopenAfterMs: 0, waveSize: 1, device: { id: 'gw-x', secret: 's3cret' } });
    attack.start();
    await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    const stats = await attack.stop();
    attack = undefined;
    const first = seen[0]!;
    const connect = connectPacket('gw-x:1', 'gw-x', 's3cret');
    expect(first.subarray(0, connect.length)).toEqual(connect);
    expect(first.subarray(connect.length, connect.length + 5)).toEqual(Buffer.from([0x32, 0xff, 0xff, 0xff, 0x7f]));
    // A client id of its own per socket: the second login does not take over the first's session.
    expect(seen[1]!.subarray(0, connect.length)).toEqual(connectPacket('gw-x:2', 'gw-x', 's3cret'));
    expect(stats.loggedIn).toBeGreaterThanOrEqual(2);
  });

  it('counts a refused login and logs in again once the broker has closed the socket', async () => {
    let connects = 0;
    const port = await listen((socket, received) => {
      socket.on('data', () => {
        if (received().length < 2 + received()[1]!) return;
        connects++;
        // CONNACK return code 5: not authorized (MQTT 3.1.1 §3.2.2.3).
        socket.end(Buffer.from([0x20, 0x02, 0x00, 0x05]));
      });
    });
    attack = createAttack({ host: '127.0.0.1', port }, { kind: 'failed_logins', addresses: ['127.0.0.7'], perAddress: 1, reopenAfterMs: 0, waveSize: 1, device: { id: 'gw-x', secret: 'wrong' } });
    attack.start();
    await vi.waitFor(() => expect(connects).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    const stats = await attack.stop();
    attack = undefined;
    expect(stats.loginsRefused).toBeGreaterThanOrEqual(3);
    expect(stats.loggedIn).toBe(0);
  });

  it('builds CONNECT as MQTT 3.1.1 §3.1 lays it out', () => {
    const packet = connectPacket('a', 'b', 'cd');
    // type 1; remaining length 6 ("MQTT") + 4 (level 4, flags user+password+clean, keep alive 60) + 3 + 3 + 4 (three strings) = 20.
    expect([...packet]).toEqual([0x10, 20, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0xc2, 0, 60, 0, 1, 0x61, 0, 1, 0x62, 0, 2, 0x63, 0x64]);
  });

  it('trickles a CONNECT one byte per socket per interval, and closes every socket when stopped', async () => {
    const sockets: { socket: Socket; received: () => Buffer }[] = [];
    const port = await listen((socket, received) => sockets.push({ socket, received }));
    attack = createAttack({ host: '127.0.0.1', port }, { kind: 'slowloris', addresses: ['127.0.0.5'], perAddress: 3, reopenAfterMs: 0, waveSize: 3, byteEveryMs: 20 });
    attack.start();
    await vi.waitFor(() => expect(sockets.length === 3 && sockets.every((s) => s.received().length >= 3)).toBe(true), { timeout: 10_000 });
    for (const { received } of sockets) expect(received().subarray(0, 3)).toEqual(Buffer.from([0x10, 90, 0]));
    const closed = sockets.map(({ socket }) => new Promise((resolve) => socket.once('close', resolve)));
    const stats = await attack.stop();
    attack = undefined;
    await Promise.all(closed);
    expect(stats).toMatchObject({ attempts: 3, connected: 3, closedByBroker: 0, openAtStop: 3 });
  });

  it('holds idle sockets that send nothing, and opens one again after the broker closes it', async () => {
    const sockets: { socket: Socket; received: () => Buffer }[] = [];
    const port = await listen((socket, received) => sockets.push({ socket, received }));
    attack = createAttack({ host: '127.0.0.1', port }, { kind: 'idle_sockets', addresses: ['127.0.0.6'], perAddress: 4, reopenAfterMs: 10, waveSize: 2 });
    attack.start();
    await vi.waitFor(() => expect(sockets.length).toBe(4), { timeout: 10_000 });
    sockets[0]!.socket.destroy();
    await vi.waitFor(() => expect(sockets.length).toBe(5), { timeout: 10_000 });
    const stats = await attack.stop();
    attack = undefined;
    expect(sockets.every((s) => s.received().length === 0)).toBe(true);
    expect(stats).toMatchObject({ attempts: 5, closedByBroker: 1, openAtStop: 4, bytesSent: 0 });
  });

  it('forks the attacker at nice 10 under SCHED_IDLE, every thread of it', async () => {
    const attacker = await startAttacker({ host: '127.0.0.1', port: 1 });
    try {
      expect(getPriority(attacker.pid)).toBe(10);
      expect(schedulingPolicy(attacker.pid)).toBe(SCHED_IDLE);
      const threads = readdirSync(`/proc/${attacker.pid}/task`).map(Number);
      expect(threads.length).toBeGreaterThan(1);
      for (const tid of threads) expect(schedulingPolicy(tid), `thread ${tid}`).toBe(SCHED_IDLE);
      // This process is left as it was.
      expect(schedulingPolicy(process.pid)).not.toBe(SCHED_IDLE);
    } finally {
      await attacker.close();
    }
  });
});
