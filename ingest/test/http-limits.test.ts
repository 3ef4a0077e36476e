import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDevCa } from '../../cli/src/commands/certs.ts';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

const ADMIN = 'test-admin-token-0123456789';
const MAX_PAYLOAD = 4096;

async function metric(h: Harness, name: string, labels = ''): Promise<number> {
  const text = await h.service.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(labels === '' ? `${name} ` : `${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

function raw(port: number, localAddress: string, opened: Socket[]): Socket {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  opened.push(socket);
  return socket;
}

/** The status line and the JSON body of the one response a raw socket gets. */
function response(socket: Socket): Promise<{ status: number; body: { code?: string; message?: string } }> {
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  return new Promise((resolve) => {
    const done = () => {
      const head = text.indexOf('\r\n\r\n');
      if (head < 0) return false;
      const length = Number(/content-length: (\d+)/i.exec(text.slice(0, head))?.[1] ?? -1);
      if (length < 0 || text.length < head + 4 + length) return false;
      resolve({ status: Number(text.slice(9, 12)), body: JSON.parse(text.slice(head + 4, head + 4 + length)) as { code?: string } });
      return true;
    };
    socket.on('data', done);
    socket.once('close', () => done() || resolve({ status: 0, body: {} }));
  });
}

describe('ingest HTTP limits: bodies per route', () => {
  let h: Harness;
  const opened: Socket[] = [];
  let secret: string;
  let port: number;

  beforeAll(async () => {
    h = await startHarness({
      http: { port: 0, adminToken: ADMIN, limits: { maxConnectionsPerAddress: 8, headersTimeoutMs: 500, requestTimeoutMs: 2000 } },
      limits: { exemptAddresses: [] },
      telemetry: { maxPayloadBytes: MAX_PAYLOAD },
    });
    secret = await h.provision('gw-body');
    port = h.addresses.httpPort;
  });
  afterAll(async () => {
    for (const s of opened) s.destroy();
    await h?.close();
  });

  const basic = () => `Basic ${Buffer.from(`gw-body:${secret}`).toString('base64')}`;
  const batch = (seq: number, pad = 0) => JSON.stringify({ boot: 1, seq, readings: [{ sensor: 's'.repeat(1 + pad), metric: 'noise', ts: Date.now(), value: seq }] });

  it('refuses bodies over each route’s limit with 413 HTTP_ERR_BODY_TOO_LARGE, while telemetry under it is stored', async () => {
    const post = (path: string, body: string, headers: Record<string, string>) =>
      fetch(`${h.addresses.httpUrl}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    // Provisioning: 64 KiB.
    const devices = await post('/v1/devices', JSON.stringify({ id: 'x', kind: 'gateway', place: 'a'.repeat(70_000) }), { authorization: `Bearer ${ADMIN}` });
    expect(devices.status).toBe(413);
    expect(await devices.json()).toEqual({ code: 'HTTP_ERR_BODY_TOO_LARGE', message: 'Request body is larger than this route accepts: at most 65536 bytes' });
    // Telemetry: 2 × maxPayloadBytes; between the two the payload is still read and kept as a dead letter.
    const far = await post('/v1/telemetry', batch(1, 2 * MAX_PAYLOAD), { authorization: basic() });
    expect([far.status, ((await far.json()) as { code: string }).code]).toEqual([413, 'HTTP_ERR_BODY_TOO_LARGE']);
    const near = await post('/v1/telemetry', batch(2, MAX_PAYLOAD), { authorization: basic() });
    expect([near.status, ((await near.json()) as { storedAs: string }).storedAs]).toEqual([400, 'dead_letter']);
    expect((await post('/v1/telemetry', batch(3), { authorization: basic() })).status).toBe(202);
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-body')).toEqual({ rows: 1, keys: 1 });
    // GET and DELETE take none.
    const get = raw(port, '127.0.0.2', opened);
    const getAnswer = response(get);
    get.write('GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
    expect(await getAnswer).toMatchObject({ status: 413, body: { code: 'HTTP_ERR_BODY_TOO_LARGE' } });
    const del = await fetch(`${h.addresses.httpUrl}/v1/devices/gw-body`, { method: 'DELETE', body: '{}', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } });
    expect([del.status, ((await del.json()) as { code: string }).code]).toEqual([413, 'HTTP_ERR_BODY_TOO_LARGE']);
    expect(await metric(h, 'cityops_ingest_http_refused_bodies_total', 'reason="body_too_large"')).toBe(2);
    expect(await metric(h, 'cityops_ingest_http_refused_bodies_total', 'reason="body_not_allowed"')).toBe(2);
  });

  it('answers a chunked body streamed without end at the route’s limit, reading no further than that, memory bounded', async () => {
    const rss = process.memoryUsage().rss;
    const socket = raw(port, '127.0.0.2', opened);
    const answer = response(socket);
    socket.write(`POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    let sent = 0;
    let answered = false;
    void answer.then(() => (answered = true));
    // Up to 64 MiB, until the answer comes: it comes after the first 8 KiB.
    while (!answered && !socket.destroyed && sent < 64 << 20) {
      sent += frame.length;
      if (!socket.write(frame)) await new Promise((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); void answer.then(resolve); });
    }
    expect(await answer).toMatchObject({ status: 413, body: { code: 'HTTP_ERR_BODY_TOO_LARGE' } });
    // Answered long before the 64 MiB (what went out sits in socket buffers, not in the server).
    expect(sent).toBeLessThan(32 << 20);
    expect(process.memoryUsage().rss - rss).toBeLessThan(50 << 20);
    socket.destroy();
  });
});

describe('ingest HTTPS limits: connections capped on the raw socket, before a handshake', () => {
  let certDir: string;
  let ca: string;
  let h: Harness;
  const opened: Socket[] = [];

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'cityops-https-limits-'));
    const files = await createDevCa({ out: certDir, hosts: ['localhost', '127.0.0.1'], days: 1 });
    const [key, cert] = await Promise.all([readFile(files.key, 'utf8'), readFile(files.cert, 'utf8')]);
    ca = await readFile(files.ca, 'utf8');
    h = await startHarness({
      http: { port: 0, adminToken: ADMIN, tls: { key, cert, ca }, limits: { maxConnectionsPerAddress: 10, headersTimeoutMs: 800, requestTimeoutMs: 2000 } },
      limits: { exemptAddresses: [] },
    });
  });
  afterAll(async () => {
    for (const s of opened) s.destroy();
    await h?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  function healthz(localAddress: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${h.addresses.httpUrl}/healthz`, { ca, localAddress, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('refuses idle TCP sockets beyond the per-address cap at accept; the admitted are cut at the handshake deadline; another address is served', async () => {
    const port = h.addresses.httpPort;
    const idle = Array.from({ length: 200 }, () => raw(port, '127.0.0.3', opened));
    await vi.waitFor(async () => expect(await metric(h, 'cityops_ingest_http_refused_connections_total', 'reason="address_connections"')).toBe(190), { timeout: 10_000 });
    expect(await healthz('127.0.0.4')).toBe(200);
    // Never a ClientHello: cut at headersTimeoutMs (the TLS handshake deadline), not Node's 120 s.
    const started = Date.now();
    await Promise.all(idle.map((s) => new Promise((resolve) => (s.closed ? resolve(undefined) : s.once('close', resolve)))));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await metric(h, 'cityops_ingest_http_refused_connections_total', 'reason="tls_timeout"')).toBe(10);
    await vi.waitFor(async () => expect(await metric(h, 'cityops_ingest_http_connections')).toBe(0));
    expect(await healthz('127.0.0.3')).toBe(200);
  });
});
