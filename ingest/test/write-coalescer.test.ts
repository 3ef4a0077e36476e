import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { coalesceWrites } from '../src/write-coalescer.ts';

interface Pair {
  readonly sender: Socket;
  readonly receiver: Socket;
  /** Bytes the receiver has read so far. */
  received(): number;
  /** Calls of the sender's _write/_writev (one per syscall batch), with the bytes each carried. */
  readonly sends: number[];
}

const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A real loopback connection (port 0), its sending side's writes counted at the socket's _write/_writev. */
async function pair(): Promise<Pair> {
  const server = createServer();
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const sender = connect((server.address() as AddressInfo).port, '127.0.0.1');
  sender.setNoDelay(true);
  await once(sender, 'connect');
  const [receiver] = await accepted;
  sockets.push(sender, receiver);
  let bytes = 0;
  receiver.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const sends: number[] = [];
  const socket = sender as unknown as {
    _write: (chunk: Buffer, enc: string, cb: () => void) => void;
    _writev: (chunks: Array<{ chunk: Buffer }>, cb: () => void) => void;
  };
  const write = socket._write.bind(sender);
  const writev = socket._writev.bind(sender);
  socket._write = (chunk, enc, cb) => {
    sends.push(chunk.length);
    write(chunk, enc, cb);
  };
  socket._writev = (chunks, cb) => {
    sends.push(chunks.reduce((n, c) => n + c.chunk.length, 0));
    writev(chunks, cb);
  };
  return { sender, receiver, received: () => bytes, sends };
}

/** Three 100-byte "packets" each written from an immediate of its own, as aedes delivers routed messages. */
function writeThreeInOneTurn(socket: Socket): void {
  for (let i = 0; i < 3; i++) setImmediate(() => socket.write(Buffer.alloc(100, i)));
}

describe('write coalescer', () => {
  it('sends the packets written in one turn of the event loop as one write, by the next check phase', async () => {
    const p = await pair();
    coalesceWrites(p.sender, { maxBytes: 65_536 });
    writeThreeInOneTurn(p.sender);
    await nextTurn(); // the turn in which the three immediates run
    expect(p.sends).toEqual([]); // held, not sent packet by packet
    await nextTurn(); // the flush queued by the first of them has run before this
    expect(p.sends).toEqual([300]);
    expect(p.sender.writableLength).toBe(0);
    await expect.poll(() => p.received()).toBe(300);
  });

  it('without it (maxBytes 0) each packet is a write of its own', async () => {
    const p = await pair();
    coalesceWrites(p.sender, { maxBytes: 0 });
    writeThreeInOneTurn(p.sender);
    await nextTurn();
    expect(p.sends).toEqual([100, 100, 100]);
  });

  it('sends what it holds before a write would pass maxBytes, so what it holds stays bounded', async () => {
    const p = await pair();
    coalesceWrites(p.sender, { maxBytes: 250 });
    for (let i = 0; i < 7; i++) {
      p.sender.write(Buffer.alloc(100, i));
      expect(p.sender.writableLength).toBeLessThanOrEqual(250);
    }
    // 100+100 held, the third would pass 250: those two go, and so on; the last 100 waits for the turn's end.
    expect(p.sends).toEqual([200, 200, 200]);
    await nextTurn();
    expect(p.sends).toEqual([200, 200, 200, 100]);
    await expect.poll(() => p.received()).toBe(700);
  });

  it('never holds the highWaterMark: a write returns false only when the socket itself is behind', async () => {
    const p = await pair();
    coalesceWrites(p.sender, { maxBytes: 1 << 20 });
    const hwm = p.sender.writableHighWaterMark;
    const packet = Buffer.alloc(Math.floor(hwm / 4) + 1);
    // Without the limit the fourth packet would make write() say false (held ≥ highWaterMark).
    for (let i = 0; i < 8; i++) expect(p.sender.write(packet)).toBe(true);
    expect(p.sender.writableLength).toBeLessThan(hwm);
    await nextTurn();
    expect(p.sends.reduce((a, b) => a + b, 0)).toBe(8 * packet.length);
    expect(p.sends.length).toBeLessThan(8);
  });

  it('does not hold a packet of the highWaterMark or more: it goes out at once, as without it', async () => {
    const p = await pair();
    coalesceWrites(p.sender, { maxBytes: 1 << 20 });
    const big = Buffer.alloc(p.sender.writableHighWaterMark + 1);
    p.sender.write(big);
    expect(p.sends).toEqual([big.length]);
    await expect.poll(() => p.received()).toBe(big.length);
  });

  it('an end() in a held turn sends what is held, and the late flush is harmless', async () => {
    const p = await pair();
    coalesceWrites(p.sender, { maxBytes: 65_536 });
    p.sender.write(Buffer.alloc(50));
    p.sender.end(Buffer.alloc(50));
    await once(p.receiver, 'end');
    expect(p.received()).toBe(100);
    expect(p.sends).toEqual([100]);
  });
});
