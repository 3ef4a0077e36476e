import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentIssuer, parseTopic, topics } from '@cityops/protocol';
import { connect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createScannerAgent, type ScanInput, type ScannerAgent, type ScannerAgentConfigInput, type ScannerAgentDeps, type ScannerAgentStats } from '../src/index.ts';
import { startAedesBroker, type TestBroker } from './aedes-broker.ts';

const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
const code = (subject: string) => health.issueHealthCode({ subject, colour: 'green' });

/**
 * A stand-in for the verifier on the broker, whose behaviour each test sets: answer requests (or
 * not, or OVERLOADED), answer uploads (or not). It records what it received.
 */
interface FakeVerifier {
  requests: { scanner: string; id: string; qr: string; venue?: string }[];
  uploads: { id: string; events: Record<string, unknown>[] }[];
  answerRequests: 'ok' | 'overloaded' | 'throttled' | 'never' | 'refused';
  /**
   * `deferred`: answers that it could not store them yet (its warehouse), as the verifier does;
   * `lost`: stores them, but the answer never reaches the scanner (killed before it was sent).
   */
  answerUploads: boolean | 'deferred' | 'lost';
  /** Event ids stored: a resend of one is answered as a duplicate (accepted: the verifier has it). */
  stored: Set<string>;
  reply(scanner: string, body: object): Promise<void>;
  close(): Promise<void>;
}

async function startFakeVerifier(url: string): Promise<FakeVerifier> {
  const client: MqttClient = await connectAsync(url, { clientId: 'fake-verifier', protocolVersion: 4, reconnectPeriod: 0 });
  await client.subscribeAsync([topics.allOf('verify-req'), topics.allOf('verify-events')], { qos: 1 });
  const fake: FakeVerifier = {
    requests: [],
    uploads: [],
    answerRequests: 'ok',
    answerUploads: true,
    stored: new Set(),
    reply: async (scanner, body) => void (await client.publishAsync(topics.verifyResponse(scanner), JSON.stringify(body), { qos: 1 })),
    close: () => client.endAsync(),
  };
  client.on('message', (topic, payload) => {
    const { channel, device } = parseTopic(topic);
    const body = JSON.parse(payload.toString()) as { id: string; qr: string; venue?: string; events: Record<string, unknown>[] };
    if (channel === 'verify-req') {
      fake.requests.push({ scanner: device, ...body });
      if (fake.answerRequests === 'ok') void fake.reply(device, { id: body.id, verdict: 'allow', reason: 'OK', kind: 'health-code', issuer: 'city-health' });
      if (fake.answerRequests === 'overloaded') void fake.reply(device, { id: body.id, verdict: 'deny', reason: 'OVERLOADED', kind: null });
      if (fake.answerRequests === 'throttled') void fake.reply(device, { id: body.id, verdict: 'deny', reason: 'THROTTLED', kind: null, retryAfterMs: 200 });
      if (fake.answerRequests === 'refused') void fake.reply(device, { id: body.id, code: 'VERIFIER_ERR_VENUE_MISMATCH', message: 'registered elsewhere' });
    } else if (channel === 'verify-events' && fake.answerUploads === 'deferred') {
      void fake.reply(device, { id: body.id, accepted: 0, refused: 0, duplicates: 0, deferred: true });
    } else if (channel === 'verify-events' && fake.answerUploads !== false) {
      fake.uploads.push({ id: body.id, events: body.events });
      const ids = body.events.map((e) => String(e.id));
      const duplicates = ids.filter((id) => fake.stored.has(id)).length;
      for (const id of ids) fake.stored.add(id);
      if (fake.answerUploads === true) void fake.reply(device, { id: body.id, accepted: body.events.length, refused: 0, duplicates });
    }
  });
  return fake;
}

describe('scanner agent request/response and uploads (a stand-in verifier on Aedes)', () => {
  let dir: string;
  let broker: TestBroker;
  let fake: FakeVerifier;
  let agent: ScannerAgent | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-scanner-protocol-'));
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    broker = await startAedesBroker('unused');
  });
  afterEach(async () => {
    await agent?.stop();
    await fake?.close();
  });
  afterAll(async () => {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(name: string, overrides: Partial<ScannerAgentConfigInput> = {}, deps: ScannerAgentDeps = {}): Promise<ScannerAgent> {
    fake = await startFakeVerifier(broker.url);
    agent = createScannerAgent(
      {
        scannerId: name,
        venue: 'mall-3',
        dataDir: join(dir, name),
        mqtt: { url: broker.url, reconnectMinMs: 10, reconnectMaxMs: 50, stopTimeoutMs: 200 },
        verify: { timeoutMs: 250, probeIntervalMs: 30 },
        reference: { trust: { source: join(dir, 'trust.json') } },
        spool: { fsync: 'off', uploadTimeoutMs: 250 },
        ...overrides,
      },
      { logger: pino({ level: 'silent' }), ...deps },
    );
    const online = new Promise<void>((resolve) => agent!.once('online', resolve));
    await agent.start();
    await online;
    return agent;
  }

  it('sends only its own venue: a scan naming another is refused unsent; a refusal by the verifier is no verdict, online or offline', async () => {
    const scanner = await start('scanner-venue');
    await expect(scanner.scan(code('p-v1'), 'pudong/pudong-s01/g001/b01')).rejects.toMatchObject({ code: 'SCANNER_ERR_VENUE_MISMATCH' });
    expect(await scanner.scan(code('p-v2'), 'mall-3')).toMatchObject({ verdict: 'allow', offline: false });
    expect(fake.requests.map((r) => r.venue)).toEqual(['mall-3']);
    // The verifier refuses the scanner: the scan rejects with the verifier's code, nothing is spooled.
    fake.answerRequests = 'refused';
    await expect(scanner.scan(code('p-v3'))).rejects.toMatchObject({ code: 'SCANNER_ERR_REFUSED', message: expect.stringContaining('VERIFIER_ERR_VENUE_MISMATCH') as string });
    expect(scanner.stats()).toMatchObject({ online: true, offlineVerdicts: 0, spool: { pending: 0 } });
    // consume() goes on past inputs that get no verdict, saying which.
    fake.answerRequests = 'ok';
    const skipped: string[] = [];
    const verdicts: string[] = [];
    async function* inputs(): AsyncIterable<ScanInput> {
      yield* [{ qr: code('p-v4'), venue: 'xuhui/xujiahui/g001/b01' }, { qr: code('p-v5') }];
      await Promise.resolve();
    }
    await scanner.consume(inputs(), (r) => verdicts.push(r.reason), (err) => skipped.push(err.code));
    expect([skipped, verdicts]).toEqual([['SCANNER_ERR_VENUE_MISMATCH'], ['OK']]);
  });

  it('correlates answers by id, bounds the requests in flight, and times out into an offline verdict', async () => {
    const scanner = await start('scanner-a', { verify: { maxInFlight: 2, timeoutMs: 250, probeIntervalMs: 60_000 } });
    expect(await scanner.scan(code('p-1'))).toMatchObject({ verdict: 'allow', reason: 'OK', offline: false });
    expect(fake.requests).toEqual([expect.objectContaining({ scanner: 'scanner-a', venue: 'mall-3', qr: expect.stringMatching(/^CHC1:/) as string })]);

    fake.answerRequests = 'never';
    fake.answerUploads = false;
    const results = await Promise.all(['p-2', 'p-3', 'p-4', 'p-5'].map((s) => scanner.scan(code(s))));
    expect(results.map((r) => [r.reason, r.offline])).toEqual(Array.from({ length: 4 }, () => ['OK', true]));
    // Two waited (one timed out, the other was let go with it); two found the window full.
    expect(scanner.stats().offlineByCause).toEqual({ busy: 2, timeout: 1, unreachable: 1, overloaded: 0 });
    expect(scanner.stats()).toMatchObject({ online: false, requestsInFlight: 0, spool: { pending: 4 } });

    // Answers after the timeout match nothing: counted, never shown.
    for (const r of fake.requests.slice(1)) await fake.reply('scanner-a', { id: r.id, verdict: 'allow', reason: 'OK', kind: 'health-code' });
    await fake.reply('scanner-a', { id: 'someone-else-1', verdict: 'allow', reason: 'OK', kind: 'health-code' });
    await vi.waitFor(() => expect(scanner.stats().unmatchedAnswers).toBe(3));
  });

  it('verifies offline when the verifier says it is overloaded, and uploads the event at once', async () => {
    const scanner = await start('scanner-b');
    fake.answerRequests = 'overloaded';
    const result = await scanner.scan(code('p-busy'));
    expect(result).toMatchObject({ verdict: 'allow', reason: 'OK', offline: true });
    expect(scanner.stats().offlineByCause.overloaded).toBe(1);
    await vi.waitFor(() => expect(scanner.stats().spool.pending).toBe(0));
    const events = fake.uploads.flatMap((u) => u.events);
    expect(events).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f]{12}-0$/) as string,
        at: expect.any(Number) as number,
        venue: 'mall-3',
        kind: 'health-code',
        verdict: 'allow',
        reason: 'OK',
        issuer: 'city-health',
        subjectHash: expect.stringMatching(/^[0-9a-f]{64}$/) as string,
      },
    ]);
    expect(scanner.stats().online).toBe(true);
  });

  it('verifies offline when its credential is throttled (someone flooding with a copy of it): the person at the door is not refused for it', async () => {
    const scanner = await start('scanner-t');
    fake.answerRequests = 'throttled';
    expect(await scanner.scan(code('p-throttled'))).toMatchObject({ verdict: 'allow', reason: 'OK', offline: true });
    expect(scanner.stats().offlineByCause.overloaded).toBe(1);
  });

  it('keeps events until the verifier answers their upload (a PUBACK alone is not enough), then sends each once', async () => {
    const scanner = await start('scanner-c');
    fake.answerRequests = 'never';
    fake.answerUploads = false;
    for (const s of ['p-6', 'p-7', 'p-8']) expect((await scanner.scan(code(s))).offline).toBe(true);
    // Probes go out every 30 ms, the broker acknowledges them, nobody answers.
    await vi.waitFor(() => expect(scanner.stats().uploads.unanswered).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    expect(scanner.stats().spool.pending).toBe(3);

    const uploaded = new Promise<{ events: number; accepted: number; refused: number }>((resolve) => scanner.once('uploaded', resolve));
    fake.answerUploads = true;
    expect(await uploaded).toMatchObject({ events: 3, accepted: 3, refused: 0 });
    await vi.waitFor(() => expect(scanner.stats()).toMatchObject({ online: true, spool: { pending: 0 } }), { timeout: 5000 });
    expect(fake.uploads.flatMap((u) => u.events)).toHaveLength(3);
    expect(new Set(fake.uploads.flatMap((u) => u.events.map((e) => e.subjectHash))).size).toBe(3);
  });

  it('keeps events the verifier could not store yet (deferred), stays online, and sends them again', async () => {
    const scanner = await start('scanner-e');
    fake.answerRequests = 'overloaded';
    fake.answerUploads = 'deferred';
    expect((await scanner.scan(code('p-11'))).offline).toBe(true);
    await vi.waitFor(() => expect(scanner.stats().uploads.deferred).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    expect(scanner.stats()).toMatchObject({ online: true, spool: { pending: 1 } });
    fake.answerUploads = true;
    await vi.waitFor(() => expect(scanner.stats().spool.pending).toBe(0), { timeout: 5000 });
    const sent = fake.uploads.flatMap((u) => u.events).filter((e) => e.venue === 'mall-3');
    expect(sent.at(-1)).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{12}-0$/) as string });
    fake.answerRequests = 'ok';
  });

  it('counts a resend the verifier had already stored (its first answer lost) as accepted, and as duplicates', async () => {
    const scanner = await start('scanner-g');
    fake.answerRequests = 'overloaded';
    fake.answerUploads = 'lost';
    for (const s of ['p-15', 'p-16']) expect((await scanner.scan(code(s))).offline).toBe(true);
    // Stored by the verifier, never answered: the events stay, and each probe sends them again.
    await vi.waitFor(() => expect(fake.stored.size).toBe(2), { timeout: 5000 });
    expect(scanner.stats()).toMatchObject({ online: false, spool: { pending: 2 }, uploads: { eventsAccepted: 0 } });
    expect(scanner.stats().uploads.unanswered).toBeGreaterThanOrEqual(1);

    const uploaded = new Promise<{ events: number; accepted: number }>((resolve) => scanner.once('uploaded', resolve));
    fake.answerUploads = true;
    expect(await uploaded).toMatchObject({ events: 2, accepted: 2 });
    // Accepted: the verifier has them (stored by the upload whose answer was lost), each once.
    expect(scanner.stats()).toMatchObject({ spool: { pending: 0, acknowledged: 2 }, uploads: { eventsAccepted: 2, eventsDuplicate: 2, eventsRefused: 0 } });
    fake.answerRequests = 'ok';
  });

  it('counts an answered upload in the same step as its events leave the spool', async () => {
    // Whoever reads stats() between two microtasks (a test's vi.waitFor, whose first check runs at
    // once; a metrics scrape) must never see events gone from the spool but not counted: after every
    // message the scanner receives, stats are sampled on each of the following microtasks.
    const samples: ScannerAgentStats[] = [];
    const sampling = (url: string, options: IClientOptions): MqttClient => {
      const client = connect(url, options);
      // Registered before the agent's own listener: the sampling interleaves with its handling.
      client.on('message', () => {
        void (async () => {
          for (let i = 0; i < 50; i++) {
            await Promise.resolve();
            if (agent !== undefined) samples.push(agent.stats());
          }
        })();
      });
      return client;
    };
    const scanner = await start('scanner-f', {}, { connect: sampling });
    fake.answerRequests = 'overloaded';
    for (const s of ['p-12', 'p-13', 'p-14']) expect((await scanner.scan(code(s))).offline).toBe(true);
    await vi.waitFor(() => expect(scanner.stats().spool.pending).toBe(0), { timeout: 5000 });
    await vi.waitFor(() => expect(scanner.stats().uploads.eventsAccepted).toBe(3), { timeout: 5000 });
    const behind = samples
      .filter((s) => s.spool.acknowledged !== s.uploads.eventsAccepted + s.uploads.eventsRefused)
      .map((s) => ({ acknowledged: s.spool.acknowledged, pending: s.spool.pending, uploads: s.uploads }));
    expect(samples.length).toBeGreaterThan(0);
    expect(behind).toEqual([]);
    fake.answerRequests = 'ok';
  });

  it('takes a lost connection as offline at once, and comes back with the broker', async () => {
    const scanner = await start('scanner-d');
    const offline = new Promise<string>((resolve) => scanner.once('offline', resolve));
    const port = broker.port;
    await broker.stop();
    expect(await offline).toBe('unreachable');
    expect(await scanner.scan(code('p-9'))).toMatchObject({ offline: true, reason: 'OK' });
    expect(scanner.stats().offlineByCause.unreachable).toBe(1);

    await fake.close();
    broker = await startAedesBroker('unused', port);
    fake = await startFakeVerifier(broker.url);
    await vi.waitFor(() => expect(scanner.stats()).toMatchObject({ online: true, spool: { pending: 0 } }), { timeout: 5000 });
    expect(fake.uploads.flatMap((u) => u.events)).toHaveLength(1);
    expect(await scanner.scan(code('p-10'))).toMatchObject({ offline: false });
  });
});
