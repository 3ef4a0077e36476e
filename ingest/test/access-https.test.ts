import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa } from '../../cli/src/commands/certs.ts';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

function post(url: string, ca: string | undefined, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, ...(ca === undefined ? {} : { ca }) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTPS for the ingest HTTP API', () => {
  let certDir: string;
  let ca: string;
  let h: Harness;
  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'cityops-https-'));
    const files = await createDevCa({ out: certDir, hosts: ['localhost', '127.0.0.1'], days: 1 });
    const [key, cert] = await Promise.all([readFile(files.key, 'utf8'), readFile(files.cert, 'utf8')]);
    ca = await readFile(files.ca, 'utf8');
    h = await startHarness({ http: { port: 0, adminToken: 'test-admin-token-0123456789', tls: { key, cert, ca } } });
  });
  afterAll(async () => {
    await h?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  it('accepts telemetry over HTTPS from a client trusting the dev CA', async () => {
    expect(h.addresses.httpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const secret = await h.provision('gw-https');
    const body = JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: 1 }] });
    const auth = `Basic ${Buffer.from(`gw-https:${secret}`).toString('base64')}`;
    expect(await post(`${h.addresses.httpUrl}/v1/telemetry`, ca, { authorization: auth, 'content-type': 'application/json' }, body)).toBe(202);
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-https')).toEqual({ rows: 1, keys: 1 });
  });

  it('is refused by a client that does not trust the certificate, and speaks no plain HTTP', async () => {
    await expect(post(`${h.addresses.httpUrl}/healthz`, undefined, {}, '')).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    const plain = h.addresses.httpUrl.replace('https:', 'http:');
    await expect(fetch(`${plain}/healthz`)).rejects.toThrow();
  });
});
