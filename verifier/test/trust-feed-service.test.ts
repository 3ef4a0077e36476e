import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { dccVaccination } from './code-fixtures.ts';
import { post } from './service-harness.ts';
import { createTrustPki, type TrustPki } from './trust-pki.ts';

/**
 * The verifier's trust source fed by a national backend over HTTP (signature line + JSON, with ETag),
 * verified in a worker thread: the DSC certificates reach the pool's shared table like any key.
 */
describe('the verifier fed a signed national list over HTTP', () => {
  let pki: TrustPki;
  let feed: Server;
  let body = '';
  let etag = '"1"';
  let service: VerifierService;
  let httpUrl: string;
  const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dccOf = (country: string) => pki.countries[country]!.issuer.issueDcc({ payload: { ...dccVaccination(), v: [{ ...dccVaccination().v![0]!, co: country }] } });

  beforeAll(async () => {
    pki = createTrustPki();
    body = pki.nationalList(pki.gatewayList(), signer.privateKey);
    feed = createServer((req, res) => {
      if (req.headers['if-none-match'] === etag) res.writeHead(304).end();
      else res.writeHead(200, { etag, 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => feed.listen(0, '127.0.0.1', resolve));
    const source = `http://127.0.0.1:${(feed.address() as AddressInfo).port}/trustList/DSC/`;
    service = createVerifierService(
      {
        // Open (no credentials): this is about the trust feed, not about who asks.
        http: { port: 0, verifyAccess: 'open' },
        trust: { source, refreshMs: 3_600_000, signer: { publicKey: signer.publicKey.export({ type: 'spki', format: 'pem' }).toString() }, anchors: [pki.anchorPem] },
        pool: { enabled: true, threads: 1 },
        cache: { maxEntries: 0 },
      },
      { logger: pino({ level: 'silent' }) },
    );
    httpUrl = (await service.start()).httpUrl;
  });
  afterAll(async () => {
    await service?.stop();
    await new Promise<void>((resolve) => feed.close(() => resolve()));
    pki.cleanup();
  });

  it('verifies DCCs of every listed country, keeps the list through a tampered one, and counts it', async () => {
    for (const country of ['XA', 'XB']) {
      expect((await post(`${httpUrl}/v1/verify`, { qr: dccOf(country) })).body).toMatchObject({ verdict: 'allow', reason: 'OK', kind: 'eu-dcc' });
    }
    const inForce = service.reference.current().trust;
    body = body.replace('"XB"', '"XQ"');
    etag = '"2"';
    await expect(service.reference.reload('trust')).rejects.toMatchObject({ code: 'VERIFIER_ERR_TRUST_LIST' });
    expect(service.reference.current().trust).toBe(inForce);
    expect((await post(`${httpUrl}/v1/verify`, { qr: dccOf('XB') })).body).toMatchObject({ verdict: 'allow', reason: 'OK' });
    const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
    expect(metrics).toContain('cityops_verifier_reference_reloads_total{source="trust",outcome="failed"} 1');
    // The backend drops XB: the next good list is taken, and XB's DCCs are unknown from then on.
    body = pki.nationalList(pki.gatewayList().filter((e) => e.country !== 'XB'), signer.privateKey);
    etag = '"3"';
    await service.reference.reload('trust');
    expect((await post(`${httpUrl}/v1/verify`, { qr: dccOf('XB') })).body).toMatchObject({ verdict: 'deny', reason: 'UNKNOWN_KEY' });
    expect((await post(`${httpUrl}/v1/verify`, { qr: dccOf('XA') })).body).toMatchObject({ verdict: 'allow', reason: 'OK' });
  });
});
