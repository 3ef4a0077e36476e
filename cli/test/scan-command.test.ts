import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createDevelopmentIssuer, parsePlace } from '@cityops/protocol';
import { writeCredentialsFile } from '@cityops/simulators';
import { createVerifierService, type VerifierService } from '@cityops/verifier';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanCommand } from '../src/commands/scan.ts';
import { createShutdown } from '../src/shutdown.ts';
import { collectJsonLines } from './printed-json.ts';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';

const TOKEN = 'scan-test-token-0123456789abcdef';

describe('cityops scan (through the ingest broker, with its authentication and ACL)', () => {
  let dir: string;
  let ingest: CityopsProcess;
  let api: string;
  let mqttUrl: string;
  let verifier: VerifierService | undefined;

  async function provision(id: string, kind: 'scanner' | 'service', place?: string): Promise<string> {
    const response = await fetch(`${api}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, kind, ...(place === undefined ? {} : { place }) }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { secret: string }).secret;
  }

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'silent';
    dir = await mkdtemp(join(tmpdir(), 'cityops-scan-'));
    ingest = await startCityops(['ingest', '--data', join(dir, 'ingest'), '--mqtt-port', '0', '--http-port', '0', '--admin-token', TOKEN]);
    api = String(ingest.ready.httpUrl);
    mqttUrl = String(ingest.ready.mqttUrl);
  });
  afterAll(async () => {
    await verifier?.stop();
    await ingest?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers each stdin line with a verdict line, in order, from the verifier', async () => {
    const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
    const rogue = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    const verifierSecret = await provision('verifier-1', 'service');
    const scannerSecret = await provision('gate-1', 'scanner', 'putuo/putuo-s01/g002/b04');
    verifier = createVerifierService(
      {
        // Ingest's registry is in its own process's embedded store: open (judged at the scanner's --venue).
        http: { port: 0, verifyAccess: 'open' },
        mqtt: { url: mqttUrl, clientId: 'verifier-1', username: 'verifier-1', password: verifierSecret },
        trust: { source: join(dir, 'trust.json') },
        pool: { enabled: false },
      },
      { logger: pino({ level: 'silent' }) },
    );
    await verifier.start();

    const stdin = new PassThrough();
    const out = new PassThrough();
    const printed = collectJsonLines(out);
    stdin.end(
      [
        health.issueHealthCode({ subject: 'p-1', colour: 'green' }),
        rogue.issueHealthCode({ subject: 'p-2', colour: 'green' }),
        '{oops',
        '',
        JSON.stringify({ qr: health.issueHealthCode({ subject: 'p-3', colour: 'red' }), venue: 'putuo/putuo-s01/g002/b04' }),
        // Another venue than the scanner's own: no verdict (issue 16), said in its place.
        JSON.stringify({ qr: health.issueHealthCode({ subject: 'p-4', colour: 'green' }), venue: 'mall-9' }),
      ].join('\n'),
    );
    await scanCommand(
      ['--scanner', 'gate-1', `--secret=${scannerSecret}`, '--broker', mqttUrl, '--trust', join(dir, 'trust.json'), '--data', join(dir, 'gate-1'), '--venue', 'putuo/putuo-s01/g002/b04'],
      out,
      createShutdown(),
      stdin,
    );
    // Every verifier on the broker hears every scanner (no shared subscriptions in MQTT 3.1.1): one at a
    // time, so this one stops before any assertion can end the test early.
    await verifier.stop();
    expect(printed).toEqual([
      expect.objectContaining({ verdict: 'allow', reason: 'OK', kind: 'health-code', offline: false }),
      expect.objectContaining({ verdict: 'deny', reason: 'UNKNOWN_KEY', offline: false }),
      { line: 3, error: 'SCANNER_ERR_INPUT_LINE', message: expect.stringMatching(/^not JSON/) as string },
      expect.objectContaining({ verdict: 'deny', reason: 'POLICY_DENIED', colour: 'red', offline: false }),
      { error: 'SCANNER_ERR_VENUE_MISMATCH', message: expect.stringContaining('mall-9') as string },
    ]);
  });

  it('--simulate runs a fleet of provisioned scanners with its own verifier and checks every class', async () => {
    const places = ['huangpu/huangpu-s01/g001/b01', 'pudong/pudong-s02/g003/b07'];
    const devices = [];
    for (const [i, place] of places.entries()) {
      const id = `scn-${i + 1}`;
      devices.push({ id, secret: await provision(id, 'scanner', place), place: parsePlace(place), sensors: [] });
    }
    await writeCredentialsFile(join(dir, 'scanners.json'), devices);
    const serviceSecret = await provision('verifier-sim', 'service');
    const out = new PassThrough();
    const printed = collectJsonLines(out);
    await scanCommand(
      [
        '--simulate', '--credentials', join(dir, 'scanners.json'), '--broker', mqttUrl, '--service-id', 'verifier-sim', `--service-secret=${serviceSecret}`,
        '--count', '30', '--rate', '0', '--mix', 'valid=2,expired=1,forged=1,revoked=1,wrong-issuer=1,malformed=1', '--data', join(dir, 'sim'),
      ],
      out,
      createShutdown(),
    );
    expect(printed[0]).toMatchObject({ ready: true, scanners: 2 });
    const done = printed.at(-1)!;
    expect(done).toMatchObject({ done: true, scanners: 2, scanned: 60, offline: 0, ok: true, problems: [] });
    expect(Object.values(done.byReason as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(60);
  });
});
