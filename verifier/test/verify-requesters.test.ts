import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mintAccessToken, topics } from '@cityops/protocol';
import { createDeviceRegistry, openWarehouse, type Warehouse } from '@cityops/warehouse';
import { identifierHash } from '../src/identifier-hashes.ts';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';
import { registerDevices, type RegisteredDevice } from './registry-fixtures.ts';
import { createDataDir, startPlainBroker } from './service-harness.ts';
import { httpFrom } from '../../test-peers/http-from.ts';

/**
 * Issue 16: who may ask the verifier, and for which venue. Verdicts count only for authenticated
 * scanners at their registered venues (or a venue token's venue); everything else records nothing.
 */

const issuers = createTestIssuers();
const HUANGPU = 'huangpu/nanjing-east/g001/b01';
const PUDONG = 'pudong/pudong-s01/g001/b01';
const XUHUI = 'xuhui/xujiahui/g002/b03';
const venueToken = mintAccessToken('xujiahui mall front desk', 'venue', undefined, XUHUI);
const auditor = mintAccessToken('audit office', 'auditor');
/** Offline verdicts an hour old: inside the audit's retention whatever the date. */
const OFFLINE_AT = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;
let serial = 0;
const fresh = (issuer = issuers.health) => issuer.issueHealthCode({ subject: `p-req-${serial++}`, colour: 'green' });

interface Row {
  venue: string;
  scanner: string;
  transport: string;
  reason: string;
  offline: boolean;
}

describe('who may ask the verifier, and for which venue', () => {
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let broker: Awaited<ReturnType<typeof startPlainBroker>>;
  let warehouse: Warehouse;
  let service: VerifierService;
  let open: VerifierService;
  let url = '';
  let openUrl = '';
  let door: RegisteredDevice;
  let other: RegisteredDevice;
  let gateway: RegisteredDevice;
  let leaving: RegisteredDevice;
  let flooding: RegisteredDevice;
  let uploading: RegisteredDevice;
  const clients: MqttClient[] = [];

  const rows = async (): Promise<Row[]> => {
    await service.audit!.flush();
    await open.audit!.flush();
    return warehouse.query<Row>('SELECT venue, scanner, transport, reason, offline FROM verification_events ORDER BY at');
  };
  const verify = (authorization: string | undefined, body: unknown, path = '/v1/verify', from = '127.0.0.1', base = url) =>
    httpFrom(from, `${base}${path}`, { method: 'POST', headers: authorization === undefined ? {} : { authorization }, body: JSON.stringify(body) });

  async function scannerClient(scannerId: string): Promise<{ ask(payload: object, channel?: 'verify-req' | 'verify-events'): Promise<Record<string, unknown>> }> {
    const client = await connectAsync(broker.url, { clientId: scannerId, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(client);
    await client.subscribeAsync(topics.verifyResponse(scannerId), { qos: 1 });
    const waiting = new Map<unknown, (reply: Record<string, unknown>) => void>();
    client.on('message', (_topic, payload) => {
      const reply = JSON.parse(payload.toString()) as Record<string, unknown>;
      waiting.get(reply.id)?.(reply);
    });
    let n = 0;
    return {
      ask(payload, channel = 'verify-req') {
        const id = `${scannerId}-${n++}`;
        const answer = new Promise<Record<string, unknown>>((resolve) => waiting.set(id, resolve));
        const topic = channel === 'verify-req' ? topics.verifyRequest(scannerId) : topics.verifyEvents(scannerId);
        void client.publishAsync(topic, JSON.stringify({ id, ...payload }), { qos: 1 });
        return answer;
      },
    };
  }

  beforeAll(async () => {
    data = await createDataDir('cityops-verify-requesters-');
    broker = await startPlainBroker();
    warehouse = await openWarehouse({ backend: 'chdb', path: join(data.dir, 'warehouse') });
    [door, other, gateway, leaving, flooding, uploading] = (await registerDevices(warehouse, [
      { id: 'scn-00001', at: HUANGPU },
      { id: 'scn-00002', at: PUDONG },
      { id: 'gw-00001', at: 'huangpu/nanjing-east/g001', kind: 'gateway' },
      { id: 'scn-00003', at: XUHUI },
      { id: 'scn-00004', at: XUHUI },
      { id: 'scn-00005', at: XUHUI },
    ])) as [RegisteredDevice, RegisteredDevice, RegisteredDevice, RegisteredDevice, RegisteredDevice, RegisteredDevice];
    await data.write('trust.json', trustEntries(issuers));
    const common = {
      trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
      pool: { enabled: false },
      audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20, retentionDays: 7 },
    };
    service = createVerifierService(
      {
        ...common,
        http: { port: 0, tokens: [venueToken.entry, auditor.entry] },
        mqtt: { url: broker.url, clientId: 'verifier-requesters', partition: false },
        // Revocations elsewhere (cityops device revoke --store) reach this verifier at the next read.
        registry: { refreshMs: 200 },
        // 127.0.0.1 stays exempt; the lockout test plays another loopback address.
        limits: { failedLoginsPerWindow: 3, lockoutMs: 60_000, exemptAddresses: ['127.0.0.1'] },
      },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    open = createVerifierService({ ...common, http: { port: 0, verifyAccess: 'open' } }, { warehouse, logger: pino({ level: 'silent' }) });
    url = (await service.start()).httpUrl;
    openUrl = (await open.start()).httpUrl;
  });

  afterAll(async () => {
    for (const c of clients) await c.endAsync();
    await service?.stop();
    await open?.stop();
    await broker?.stop();
    await warehouse?.close();
    await data?.remove();
  });

  it('answers 401 without credentials (single and batch) and records nothing: forged codes from an outsider reach no venue', async () => {
    const before = (await rows()).length;
    // The issue's attack: twelve forged health codes naming a venue and a scanner, no credentials.
    for (let i = 0; i < 12; i++) {
      const reply = await verify(undefined, { qr: fresh(issuers.rogue), venue: PUDONG, scanner: 'scn-00002' });
      expect(reply).toMatchObject({ status: 401, body: { code: 'VERIFIER_ERR_UNAUTHENTICATED' } });
    }
    expect(await verify(undefined, { items: [{ qr: fresh(issuers.rogue), venue: PUDONG }] }, '/v1/verify/batch')).toMatchObject({ status: 401 });
    // A token of another role, or garbage, is no better.
    expect(await verify(`Bearer ${auditor.token}`, { qr: fresh() })).toMatchObject({ status: 403, body: { code: 'VERIFIER_ERR_ROLE_FORBIDDEN' } });
    expect(await verify('Basic !!!not-base64', { qr: fresh() })).toMatchObject({ status: 401 });
    expect((await rows()).length).toBe(before);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/cityops_verifier_requests_refused_total\{transport="http",code="VERIFIER_ERR_UNAUTHENTICATED"\} 1[2-9]/);
  });

  it('counts wrong secrets toward the address lockout, then refuses even the right ones from there (429)', async () => {
    const wrong = `Basic ${Buffer.from(`${door.id}:not-the-secret-0123456789abcdef`).toString('base64')}`;
    for (let i = 0; i < 3; i++) {
      expect(await verify(wrong, { qr: fresh() }, '/v1/verify', '127.0.0.31')).toMatchObject({ status: 401, body: { code: 'VERIFIER_ERR_UNAUTHENTICATED' } });
    }
    expect(await verify(door.basic, { qr: fresh() }, '/v1/verify', '127.0.0.31')).toMatchObject({ status: 429, body: { code: 'VERIFIER_ERR_LOCKED_OUT' } });
    // The lock is per address: the same scanner from another one is answered.
    expect(await verify(door.basic, { qr: fresh() }, '/v1/verify', '127.0.0.32')).toMatchObject({ status: 200, body: { verdict: 'allow' } });
  });

  it("records a scanner's verdict under its registered venue and id; naming its own venue is fine, another is refused and records nothing", async () => {
    const before = await rows();
    expect(await verify(door.basic, { qr: fresh() })).toMatchObject({ status: 200, body: { verdict: 'allow', reason: 'OK' } });
    expect(await verify(door.basic, { qr: fresh(), venue: HUANGPU, scanner: door.id })).toMatchObject({ status: 200, body: { verdict: 'allow' } });
    expect(await verify(door.basic, { qr: fresh(), venue: PUDONG })).toMatchObject({ status: 403, body: { code: 'VERIFIER_ERR_VENUE_MISMATCH' } });
    expect(await verify(door.basic, { qr: fresh(), scanner: other.id })).toMatchObject({ status: 403, body: { code: 'VERIFIER_ERR_VENUE_MISMATCH' } });
    // One item naming another venue refuses the whole batch, before any is verified.
    const batch = { items: [{ qr: fresh() }, { qr: fresh(), venue: PUDONG }] };
    expect(await verify(door.basic, batch, '/v1/verify/batch')).toMatchObject({ status: 403, body: { code: 'VERIFIER_ERR_VENUE_MISMATCH' } });
    // A gateway's valid credentials are not a scanner's.
    expect(await verify(gateway.basic, { qr: fresh() })).toMatchObject({ status: 403, body: { code: 'VERIFIER_ERR_UNKNOWN_SCANNER' } });
    const added = (await rows()).slice(before.length);
    expect(added).toEqual([
      expect.objectContaining({ venue: HUANGPU, scanner: door.id, transport: 'http', reason: 'OK' }),
      expect.objectContaining({ venue: HUANGPU, scanner: door.id, transport: 'http', reason: 'OK' }),
    ]);
  });

  it('refuses a scanner revoked elsewhere from the next registry read, its secret verified before notwithstanding', async () => {
    expect(await verify(leaving.basic, { qr: fresh() })).toMatchObject({ status: 200 });
    const elsewhere = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse });
    await elsewhere.start();
    await elsewhere.revoke(leaving.id);
    await elsewhere.stop();
    await vi.waitFor(async () => expect(await verify(leaving.basic, { qr: fresh() })).toMatchObject({ status: 401, body: { code: 'VERIFIER_ERR_UNAUTHENTICATED' } }), {
      timeout: 10_000,
      interval: 50,
    });
    const scn = await scannerClient(leaving.id);
    expect(await scn.ask({ qr: fresh() })).toMatchObject({ code: 'VERIFIER_ERR_UNKNOWN_SCANNER' });
  });

  it("records a venue token's verdicts at the token's venue, with no scanner", async () => {
    const before = (await rows()).length;
    const bearer = `Bearer ${venueToken.token}`;
    expect(await verify(bearer, { items: [{ qr: fresh() }, { qr: fresh(), venue: XUHUI }] }, '/v1/verify/batch')).toMatchObject({ status: 200 });
    expect(await verify(bearer, { qr: fresh(), venue: HUANGPU })).toMatchObject({ status: 403, body: { code: 'VERIFIER_ERR_VENUE_MISMATCH' } });
    expect((await rows()).slice(before)).toEqual([
      expect.objectContaining({ venue: XUHUI, scanner: '', transport: 'batch' }),
      expect.objectContaining({ venue: XUHUI, scanner: '', transport: 'batch' }),
    ]);
  });

  it('over MQTT: the scanner of the topic at its registered venue; another venue or an unknown scanner is refused with a code', async () => {
    const before = (await rows()).length;
    const scn = await scannerClient(door.id);
    expect(await scn.ask({ qr: fresh() })).toMatchObject({ verdict: 'allow', reason: 'OK' });
    expect(await scn.ask({ qr: fresh(), venue: HUANGPU })).toMatchObject({ verdict: 'allow' });
    expect(await scn.ask({ qr: fresh(issuers.rogue), venue: PUDONG })).toMatchObject({ code: 'VERIFIER_ERR_VENUE_MISMATCH' });
    const stranger = await scannerClient('scn-unknown');
    expect(await stranger.ask({ qr: fresh(issuers.rogue), venue: PUDONG })).toMatchObject({ code: 'VERIFIER_ERR_UNKNOWN_SCANNER' });
    // A gateway's topic is not a scanner's.
    const gw = await scannerClient(gateway.id);
    expect(await gw.ask({ qr: fresh() })).toMatchObject({ code: 'VERIFIER_ERR_UNKNOWN_SCANNER' });
    expect((await rows()).slice(before)).toEqual([
      expect.objectContaining({ venue: HUANGPU, scanner: door.id, transport: 'mqtt' }),
      expect.objectContaining({ venue: HUANGPU, scanner: door.id, transport: 'mqtt' }),
    ]);
  });

  it('over MQTT: a scanner far past a door\'s rate is answered THROTTLED, nothing of the excess recorded, and flagged once', async () => {
    const before = (await rows()).filter((r) => r.scanner === flooding.id).length;
    expect(before).toBe(0);
    const scn = await scannerClient(flooding.id);
    // 60 at once: the burst (30) and what refills meanwhile (5 a second) are checked, the rest refused.
    const answers = await Promise.all(Array.from({ length: 60 }, () => scn.ask({ qr: fresh() })));
    const throttled = answers.filter((a) => a.reason === 'THROTTLED');
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.every((a) => a.verdict === 'deny' && typeof a.retryAfterMs === 'number')).toBe(true);
    const recorded = (await rows()).filter((r) => r.scanner === flooding.id);
    expect(recorded).toHaveLength(60 - throttled.length);
    expect(recorded.every((r) => r.venue === XUHUI && r.transport === 'mqtt' && r.reason === 'OK')).toBe(true);
    await service.flags!.flush();
    expect(await warehouse.query('SELECT credential, scanner, venue, transport FROM credential_flags WHERE scanner = {s:String}', { s: flooding.id })).toEqual([
      { credential: flooding.id, scanner: flooding.id, venue: XUHUI, transport: 'mqtt' },
    ]);
  });

  it('over MQTT offline uploads: more events in a minute than a door can check are refused, over several uploads, and flagged once', async () => {
    const scn = await scannerClient(uploading.id);
    // One minute of the door's own clock: 2 × (5/s × 60 + 30) = 660 events at most, over all uploads.
    const minute = Math.floor(OFFLINE_AT / 60_000) * 60_000;
    const event = (n: number) => ({ id: `boot-9:${n}`, at: minute + (n % 60_000), kind: 'health-code', verdict: 'allow', reason: 'OK', subjectHash: identifierHash(`p-flood-${n}`) });
    const first = await scn.ask({ events: Array.from({ length: 500 }, (_, n) => event(n)) }, 'verify-events');
    expect(first).toEqual(expect.objectContaining({ accepted: 500, refused: 0 }));
    const second = await scn.ask({ events: Array.from({ length: 500 }, (_, n) => event(500 + n)) }, 'verify-events');
    expect(second).toEqual(expect.objectContaining({ accepted: 160, refused: 340 }));
    // The next minute has a budget of its own.
    const next = await scn.ask({ events: [{ ...event(2000), at: minute + 60_000 }] }, 'verify-events');
    expect(next).toEqual(expect.objectContaining({ accepted: 1, refused: 0 }));
    expect((await rows()).filter((r) => r.scanner === uploading.id)).toHaveLength(661);
    await service.flags!.flush();
    expect(await warehouse.query('SELECT credential, venue, transport FROM credential_flags WHERE scanner = {s:String}', { s: uploading.id })).toEqual([
      { credential: uploading.id, venue: XUHUI, transport: 'offline' },
    ]);
  });

  it('over MQTT offline uploads: events naming another venue are refused and counted, the rest stored at the registered venue', async () => {
    const before = (await rows()).length;
    const scn = await scannerClient(other.id);
    const event = (n: number, venue?: string) => ({
      id: `boot-1:${n}`,
      at: OFFLINE_AT + n,
      ...(venue === undefined ? {} : { venue }),
      kind: 'health-code',
      verdict: 'allow',
      reason: 'OK',
      subjectHash: identifierHash(`p-off-${n}`),
    });
    const receipt = await scn.ask({ events: [event(1), event(2, PUDONG), event(3, HUANGPU)] }, 'verify-events');
    expect(receipt).toEqual(expect.objectContaining({ accepted: 2, refused: 1, duplicates: 0 }));
    expect((await rows()).filter((r) => r.offline && r.scanner === other.id)).toEqual([
      expect.objectContaining({ venue: PUDONG, scanner: other.id, transport: 'offline', offline: true }),
      expect.objectContaining({ venue: PUDONG, scanner: other.id, transport: 'offline', offline: true }),
    ]);
    // An unregistered scanner's upload counts nowhere: all refused, with the code.
    const stranger = await scannerClient('scn-unknown-2');
    expect(await stranger.ask({ events: [event(4)] }, 'verify-events')).toMatchObject({ accepted: 0, refused: 1, code: 'VERIFIER_ERR_UNKNOWN_SCANNER' });
    expect((await rows()).length).toBe(before + 2);
  });

  it('open mode (explicit): answers without credentials, judged at the named venue, recorded for no venue and no scanner', async () => {
    const before = (await rows()).length;
    expect(await verify(undefined, { qr: fresh(), venue: PUDONG }, '/v1/verify', '127.0.0.1', openUrl)).toMatchObject({ status: 200, body: { verdict: 'allow' } });
    // Credentials still count where given: a scanner is placed at its venue, and may not name another.
    expect(await verify(door.basic, { qr: fresh() }, '/v1/verify', '127.0.0.1', openUrl)).toMatchObject({ status: 200 });
    expect(await verify(door.basic, { qr: fresh(), venue: PUDONG }, '/v1/verify', '127.0.0.1', openUrl)).toMatchObject({ status: 403 });
    const added = (await rows()).slice(before);
    expect(added).toHaveLength(2);
    expect(added).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ venue: '', scanner: '', transport: 'http' }),
        expect.objectContaining({ venue: HUANGPU, scanner: door.id, transport: 'http' }),
      ]),
    );
  });
});
