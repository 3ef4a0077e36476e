import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, trustEntries } from './code-fixtures.ts';
import { createDataDir } from './service-harness.ts';

const HEADERS_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1500;
const PER_ADDRESS = 4;

describe('verifier HTTP limits, with real sockets', () => {
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let service: VerifierService;
  let port: number;
  const opened: Socket[] = [];

  async function metric(name: string, labels: string): Promise<number> {
    const text = await service.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  function raw(localAddress: string): { socket: Socket; closed: Promise<string> } {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => undefined);
    opened.push(socket);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve(text))) };
  }

  /** What a scanner's offline sync reads, on a kept-alive connection from its own address. */
  function filter(localAddress: string, agent: Agent): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/revocation/filter', localAddress, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Writes one byte of `bytes` every `everyMs` until the socket closes. */
  function trickle(socket: Socket, bytes: string, everyMs: number): () => void {
    let next = 0;
    const timer = setInterval(() => {
      if (next < bytes.length && !socket.destroyed) socket.write(bytes[next++]!);
    }, everyMs);
    return () => clearInterval(timer);
  }

  beforeAll(async () => {
    data = await createDataDir('cityops-verifier-http-limits-');
    await data.write('trust.json', trustEntries(createTestIssuers()));
    service = createVerifierService(
      {
        http: { port: 0, limits: { maxConnectionsPerAddress: PER_ADDRESS, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS } },
        limits: { exemptAddresses: [] },
        trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
        pool: { enabled: false },
      },
      { logger: pino({ level: 'silent' }) },
    );
    port = (await service.start()).httpPort;
  });
  afterAll(async () => {
    for (const s of opened) s.destroy();
    await service?.stop();
    await data?.remove();
  });

  it('cuts slow headers, a trickled body and idle sockets beyond the cap, while a scanner on another address is served throughout', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let stop = false;
    let served = 0;
    const scanner = (async () => {
      while (!stop || served === 0) {
        expect(await filter('127.0.0.2', agent)).toBe(200);
        served++;
      }
    })();

    const slowHeaders = raw('127.0.0.3');
    const stopHeaders = trickle(slowHeaders.socket, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(500)}\r\n\r\n`, 20);
    const slowBody = raw('127.0.0.3');
    slowBody.socket.write('POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"qr":"');
    const stopBody = trickle(slowBody.socket, 'A'.repeat(493), 20);
    const idle = Array.from({ length: 40 }, () => raw('127.0.0.4'));
    const started = Date.now();

    const headersAnswer = await slowHeaders.closed;
    stopHeaders();
    const headersCut = Date.now() - started;
    const bodyAnswer = await slowBody.closed;
    stopBody();
    const bodyCut = Date.now() - started;
    stop = true;
    await scanner;
    agent.destroy();

    expect(headersAnswer).toMatch(/^HTTP\/1\.1 408 .*"code":"HTTP_ERR_TIMEOUT"/s);
    expect(headersCut).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(headersCut).toBeLessThan(REQUEST_TIMEOUT_MS);
    // The body's deadline is the request's, however a route answers its headers meanwhile.
    expect(bodyAnswer).toContain('"code":"HTTP_ERR_TIMEOUT"');
    expect(bodyCut).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(await metric('cityops_verifier_http_refused_connections_total', 'reason="headers_timeout"')).toBeGreaterThanOrEqual(1);
    expect(await metric('cityops_verifier_http_refused_connections_total', 'reason="request_timeout"')).toBe(1);
    // Of 40 idle sockets from one address, 36 refused at accept; the 4 admitted cut at the headers deadline.
    expect(await metric('cityops_verifier_http_refused_connections_total', 'reason="address_connections"')).toBe(40 - PER_ADDRESS);
    await Promise.all(idle.map((i) => i.closed));
    await vi.waitFor(async () => expect(await metric('cityops_verifier_http_refused_connections_total', 'reason="headers_timeout"')).toBe(1 + PER_ADDRESS));
    expect(served).toBeGreaterThan(0);
  });
});
