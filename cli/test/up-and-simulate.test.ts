import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { readCredentialsFile } from '@cityops/simulators';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';

interface ReadingsBody {
  readings: { device: string; district: string; metric: string }[];
}

describe('cityops up and cityops simulate', () => {
  const started: CityopsProcess[] = [];
  let dir: string;
  afterAll(async () => {
    for (const p of started.reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a whole city whose readings land in the embedded store, and a separate simulator process joins it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-up-'));
    // 30 codes/s over 3 scanners is 10 a second each: their credentials must be allowed that much
    // (the default, 5/s with a burst of 30, let them drain their burst in ~6 s, after which this
    // test's own check as one of them was THROTTLED whenever the city took longer to settle).
    const up = await startCityops(['up', '--data', join(dir, 'city'), '--mqtt-port', '0', '--http-port', '0', '--verifier-port', '0', '--analytics-port', '0', '--gateways', '16', '--rate', '400', '--scanners', '3', '--scan-rate', '30', '--checks-per-scanner', '20', '--json'], {
      timeoutMs: 90_000,
    });
    started.push(up);
    const api = String(up.ready.httpUrl);
    expect(up.ready.gateways).toBe(16);
    expect((await fetch(`${api}/readyz`)).status).toBe(200);
    await vi.waitFor(
      async () => {
        const body = (await (await fetch(`${api}/v1/readings?limit=1000`)).json()) as ReadingsBody;
        // The simulated city spans districts: readings from several have landed.
        expect(new Set(body.readings.map((r) => r.district)).size).toBeGreaterThan(3);
      },
      { timeout: 30_000, interval: 200 },
    );

    const sim = await startCityops(
      ['simulate', '--gateways', '3', '--rate', '150', '--broker', String(up.ready.mqttUrl), '--api', api, '--token', String(up.ready.adminToken), '--dir', join(dir, 'sim')],
      { timeoutMs: 60_000 },
    );
    started.push(sim);
    expect(sim.ready).toMatchObject({ mode: 'agents', gateways: 3 });
    await vi.waitFor(
      async () => {
        const body = (await (await fetch(`${api}/v1/readings?device=sim-gw-00003&limit=10`)).json()) as ReadingsBody;
        expect(body.readings.length).toBeGreaterThan(0);
      },
      { timeout: 30_000, interval: 200 },
    );
    // The city's verifier trusts the city's development issuer, kept in the data directory.
    const issuer = createDevelopmentIssuer({
      privateKey: createPrivateKey(await readFile(join(dir, 'city', 'issuer', 'private-key.pem'), 'utf8')),
      certificate: new X509Certificate(await readFile(join(dir, 'city', 'issuer', 'certificate.pem'))).raw,
    });
    const qr = issuer.issueHealthCode({ subject: 'resident-1', colour: 'green', validMinutes: 30 });
    // Asked as one of the city's scanners (issue 16): its credentials are kept in the data directory.
    const [door] = await readCredentialsFile(join(dir, 'city', 'scanner-credentials.json'));
    const ask = (authorization?: string) =>
      fetch(`${String(up.ready.verifierUrl)}/v1/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
        body: JSON.stringify({ qr }),
      });
    expect((await ask()).status).toBe(401);
    const verdict = await ask(`Basic ${Buffer.from(`${door!.id}:${door!.secret}`).toString('base64')}`);
    expect(await verdict.json()).toMatchObject({ verdict: 'allow', kind: 'health-code', colour: 'green' });

    // The venue scanners ask the verifier through the broker.
    expect(up.ready.scanners).toBe(3);
    await vi.waitFor(
      async () => {
        const text = await (await fetch(`${String(up.ready.verifierUrl)}/metrics`)).text();
        expect(text).toMatch(/cityops_verifier_verdicts_total\{[^}]*transport="mqtt"[^}]*\} [1-9]/);
      },
      { timeout: 30_000, interval: 200 },
    );
    // Issue 23: the first venue is a restaurant whose policy requires licences; its door's licences are judged.
    expect(up.ready.restaurant).toEqual(expect.stringMatching(/^[a-z0-9-]+\/[a-z0-9-]+\/[a-z0-9-]+\/[a-z0-9-]+$/));
    await vi.waitFor(
      async () => {
        const text = await (await fetch(`${String(up.ready.verifierUrl)}/metrics`)).text();
        expect(text).toMatch(/cityops_verifier_verdicts_total\{verdict="allow",reason="OK",kind="licence",transport="mqtt"\} [1-9]/);
      },
      { timeout: 30_000, interval: 200 },
    );

    // Indicators by district, from the same store.
    const indicator = await fetch(`${String(up.ready.analyticsUrl)}/v1/indicators/pm25_avg?level=district`);
    expect(indicator.status).toBe(200);

    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/cityops_broker_clients \d+/);
    expect(await sim.stop()).toBe(0);
    expect(await up.stop()).toBe(0);
  });
});
