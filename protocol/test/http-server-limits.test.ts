import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  applyHttpServerLimits,
  defaultHttpServerLimits,
  httpServerLimitsProblems,
  httpServerOptions,
  type HttpRefusalReason,
  type HttpServerGuard,
  type HttpServerLimits,
} from '../src/index.ts';
import { startSocketFlood, type SocketFlood } from '../../test-peers/socket-flood.ts';

interface Started {
  server: Server;
  port: number;
  guard: HttpServerGuard;
  refused: Map<HttpRefusalReason, number>;
  warn: ReturnType<typeof vi.fn>;
  clock: { t: number };
}

const servers: Server[] = [];
const sockets: Socket[] = [];
const floods: SocketFlood[] = [];

/** A plain node server under the limits: GET answers ok, POST answers the body's length once read. */
async function start(overrides: Partial<HttpServerLimits>): Promise<Started> {
  const limits = { ...defaultHttpServerLimits(), ...overrides };
  expect(httpServerLimitsProblems(limits, '/http/limits')).toEqual([]);
  const server = createServer(httpServerOptions(limits), (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(req.method === 'POST' ? String(bytes) : 'ok'));
  });
  const refused = new Map<HttpRefusalReason, number>();
  const warn = vi.fn();
  const clock = { t: 1_000_000 };
  const guard = applyHttpServerLimits(server, limits, {
    exemptAddresses: ['127.0.0.1'],
    logger: { warn },
    now: () => clock.t,
    onRefused: (reason) => refused.set(reason, (refused.get(reason) ?? 0) + 1),
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, guard, refused, warn, clock };
}

function raw(port: number, localAddress: string): Socket {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  sockets.push(socket);
  return socket;
}

/** Everything the server sent until it closed the socket. */
function received(socket: Socket): Promise<string> {
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  return new Promise((resolve) => (socket.closed ? resolve(text) : socket.once('close', () => resolve(text))));
}

function get(port: number, localAddress: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `bytes` one at a time every `everyMs` until the socket closes; returns how many went out. */
function trickle(socket: Socket, bytes: Buffer, everyMs: number): Promise<number> {
  let next = 0;
  const timer = setInterval(() => {
    if (next < bytes.length && !socket.destroyed) socket.write(bytes.subarray(next, ++next));
  }, everyMs);
  return new Promise((resolve) => socket.once('close', () => {
    clearInterval(timer);
    resolve(next);
  }));
}

function statusAndCode(response: string): { status: number; code: string | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  return { status, code: body === '' ? undefined : (JSON.parse(body) as { code: string }).code };
}

afterEach(async () => {
  for (const f of floods.splice(0)) await f.stop();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve); })));
});

describe('HTTP server limits, with real sockets', () => {
  it('refuses 5,000 idle connections from one address beyond its cap at accept, while another address is served', async () => {
    const PER_ADDRESS = 50;
    // Long deadlines: the admitted sockets stay open for the whole test, so the counts are exact.
    const s = await start({ maxConnectionsPerAddress: PER_ADDRESS, maxConnections: 10_000, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const rssBefore = process.memoryUsage().rss;
    // From a process of its own, so this process's RSS is the server's alone.
    const flood = await startSocketFlood({ port: s.port, localAddress: '127.0.0.2', count: 5000 });
    floods.push(flood);
    await vi.waitFor(() => expect(s.refused.get('address_connections')).toBe(5000 - PER_ADDRESS), { timeout: 20_000 });
    expect(s.guard.openFrom('127.0.0.2')).toBe(PER_ADDRESS);
    expect(await get(s.port, '127.0.0.3')).toEqual({ status: 200, body: 'ok' });
    // Loopback is exempt from the per-address cap.
    const exempt = Array.from({ length: PER_ADDRESS + 10 }, () => raw(s.port, '127.0.0.1'));
    await vi.waitFor(() => expect(s.guard.openFrom('127.0.0.1')).toBe(PER_ADDRESS + 10));
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(50 << 20);
    // 4,950 refusals, one line; another after the interval.
    expect(s.warn).toHaveBeenCalledTimes(1);
    expect(s.warn.mock.calls[0]![0]).toEqual({ address: '127.0.0.2', code: 'HTTP_ERR_CONNECTION_REFUSED', reason: 'address_connections' });
    s.clock.t += 60_000;
    raw(s.port, '127.0.0.2');
    await vi.waitFor(() => expect(s.warn).toHaveBeenCalledTimes(2));
    await flood.stop();
    for (const c of [...sockets]) c.destroy();
    for (const c of exempt) c.destroy();
    await vi.waitFor(() => expect(s.guard.open()).toBe(0), { timeout: 10_000 });
  });

  it('caps open connections over all addresses, exempt ones included', async () => {
    const s = await start({ maxConnectionsPerAddress: 100, maxConnections: 12 });
    for (const address of ['127.0.0.1', '127.0.1.1', '127.0.1.2']) for (let i = 0; i < 5; i++) raw(s.port, address);
    await vi.waitFor(() => expect(s.refused.get('total_connections')).toBe(3));
    expect(s.guard.open()).toBe(12);
  });

  it('cuts headers sent a byte at a time at headersTimeoutMs with 408, while another address is served', async () => {
    const s = await start({ headersTimeoutMs: 500, requestTimeoutMs: 5000 });
    const socket = raw(s.port, '127.0.0.4');
    const response = received(socket);
    const started = Date.now();
    // 200 bytes at one per 20 ms would take 4 s.
    const sent = trickle(socket, Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`), 20);
    expect(await get(s.port, '127.0.0.5')).toEqual({ status: 200, body: 'ok' });
    const text = await response;
    const elapsed = Date.now() - started;
    expect(await sent).toBeLessThan(200);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(4000);
    expect(statusAndCode(text)).toEqual({ status: 408, code: 'HTTP_ERR_TIMEOUT' });
    expect(s.refused.get('headers_timeout')).toBe(1);
    expect(s.refused.get('request_timeout')).toBeUndefined();
  });

  it('cuts an idle connection that never sends a byte at headersTimeoutMs', async () => {
    const s = await start({ headersTimeoutMs: 300, requestTimeoutMs: 5000 });
    const text = await received(raw(s.port, '127.0.0.4'));
    expect(statusAndCode(text)).toEqual({ status: 408, code: 'HTTP_ERR_TIMEOUT' });
    expect(s.refused.get('headers_timeout')).toBe(1);
  });

  it('cuts a body trickled after complete headers at requestTimeoutMs, later than the headers deadline', async () => {
    const s = await start({ headersTimeoutMs: 300, requestTimeoutMs: 1200 });
    const socket = raw(s.port, '127.0.0.6');
    const response = received(socket);
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    const started = Date.now();
    const sent = trickle(socket, Buffer.alloc(1000, 0x61), 20);
    const text = await response;
    const elapsed = Date.now() - started;
    expect(await sent).toBeLessThan(1000);
    expect(elapsed).toBeGreaterThanOrEqual(1100);
    expect(statusAndCode(text)).toEqual({ status: 408, code: 'HTTP_ERR_TIMEOUT' });
    expect(s.refused.get('request_timeout')).toBe(1);
    expect(s.refused.get('headers_timeout')).toBeUndefined();
  });

  it('bounds the request line with the headers: a long URL or query string is 431, garbage 400, each coded', async () => {
    const s = await start({ maxHeaderBytes: 4096 });
    expect(await get(s.port, '127.0.0.7', `/?q=${'x'.repeat(3000)}`)).toEqual({ status: 200, body: 'ok' });
    const long = raw(s.port, '127.0.0.7');
    long.write(`GET /?q=${'x'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusAndCode(await received(long))).toEqual({ status: 431, code: 'HTTP_ERR_HEADERS_TOO_LARGE' });
    const headers = raw(s.port, '127.0.0.7');
    headers.write(`GET / HTTP/1.1\r\nHost: x\r\n${'X-Abc: 0123456789\r\n'.repeat(400)}\r\n`);
    expect(statusAndCode(await received(headers))).toEqual({ status: 431, code: 'HTTP_ERR_HEADERS_TOO_LARGE' });
    const garbage = raw(s.port, '127.0.0.7');
    garbage.write('\x16\x03\x01 not http at all\r\n\r\n');
    expect(statusAndCode(await received(garbage))).toEqual({ status: 400, code: 'HTTP_ERR_MALFORMED' });
    expect(Object.fromEntries(s.refused)).toEqual({ headers_too_large: 2, malformed: 1 });
  });

  it('reports a headers timeout longer than the request timeout as a configuration problem', () => {
    expect(httpServerLimitsProblems({ ...defaultHttpServerLimits(), headersTimeoutMs: 5000, requestTimeoutMs: 1000 }, '/http/limits')).toEqual([
      '/http/limits/headersTimeoutMs must not exceed requestTimeoutMs',
    ]);
  });
});
