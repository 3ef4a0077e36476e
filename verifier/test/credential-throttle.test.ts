import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createCredentialFlags, type CredentialFlag } from '../src/credential-flags.ts';
import { createCredentialThrottle, type CredentialThrottleConfig } from '../src/credential-throttle.ts';
import { createOfflineEventBudget } from '../src/offline-event-budget.ts';
import type { Verdict } from '../src/verdict.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';
import { registerDevices, type RegisteredDevice } from './registry-fixtures.ts';
import { createDataDir } from './service-harness.ts';

const logger = pino({ level: 'silent' });
const RATES: CredentialThrottleConfig = { checksPerSecond: 5, burst: 30, maxCredentials: 1000, flagWindowMs: 60_000 };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms), set: (ms: number) => (t = ms) };
}

describe('credential throttle (token bucket per credential, injected clock)', () => {
  it('lets a burst through, then refuses with the time to the next check, flagging once per window', () => {
    const c = clock();
    const throttle = createCredentialThrottle(RATES, { now: c.now });
    for (let i = 0; i < 30; i++) expect(throttle.take('scn-1').allowed, `check ${i + 1}`).toBe(true);
    expect(throttle.take('scn-1')).toEqual({ allowed: false, retryAfterMs: 200, flag: true });
    // The flood goes on: refused, never flagged again within the window.
    for (let i = 0; i < 100; i++) expect(throttle.take('scn-1')).toMatchObject({ allowed: false, flag: false });
    // Another credential has a bucket of its own.
    expect(throttle.take('scn-2').allowed).toBe(true);
    // Refill: 1 s later, 5 checks and no more.
    c.advance(1000);
    expect(Array.from({ length: 6 }, () => throttle.take('scn-1').allowed)).toEqual([true, true, true, true, true, false]);
    // Half a token in: the next check in 100 ms.
    c.advance(100);
    expect(throttle.take('scn-1')).toEqual({ allowed: false, retryAfterMs: 100, flag: false });
    expect(throttle.flagged()).toBe(1);
    // A new window, the flood still on: flagged once more.
    c.advance(60_000);
    for (let i = 0; i < 30; i++) throttle.take('scn-1');
    expect(throttle.take('scn-1')).toMatchObject({ allowed: false, flag: true });
    // Quiet for a window: no longer counted as flagged.
    c.advance(60_001);
    expect(throttle.flagged()).toBe(0);
  });

  it('lets a door at the sustained rate through for an hour, and refuses exactly what is over it', () => {
    const c = clock();
    const throttle = createCredentialThrottle(RATES, { now: c.now });
    // Exactly 5 a second for an hour: every one allowed.
    let refused = 0;
    for (let i = 0; i < 5 * 3600; i++) {
      if (!throttle.take('door').allowed) refused++;
      c.advance(200);
    }
    expect(refused).toBe(0);
    // 10 a second for 10 s from a full bucket: the burst plus 5 a second (30 + 99 × 0.5 = 79.5 tokens), the rest refused.
    c.advance(60_000);
    let allowed = 0;
    for (let i = 0; i < 100; i++) {
      if (throttle.take('door').allowed) allowed++;
      c.advance(100);
    }
    expect(allowed).toBe(79);
  });

  it('never refills when the clock steps back', () => {
    const c = clock();
    const throttle = createCredentialThrottle({ ...RATES, burst: 2 }, { now: c.now });
    expect([throttle.take('a').allowed, throttle.take('a').allowed, throttle.take('a').allowed]).toEqual([true, true, false]);
    c.advance(-3_600_000);
    expect(throttle.take('a').allowed).toBe(false);
    // Back at the time it was refused: still 0 tokens, 200 ms to the next.
    c.advance(3_600_000);
    expect(throttle.take('a')).toMatchObject({ allowed: false, retryAfterMs: 200 });
  });

  it('keeps at most maxCredentials, forgetting the least recently seen (counted)', () => {
    const c = clock();
    let evicted = 0;
    const throttle = createCredentialThrottle({ ...RATES, burst: 1, maxCredentials: 3 }, { now: c.now, onEvict: () => evicted++ });
    for (const id of ['a', 'b', 'c']) expect(throttle.take(id).allowed).toBe(true);
    // `a` seen again (refused: its bucket is empty), so `b` is now the least recently seen.
    expect(throttle.take('a').allowed).toBe(false);
    expect(throttle.take('d').allowed).toBe(true);
    expect(throttle.size()).toBe(3);
    expect(evicted).toBe(1);
    // `a` was kept (still empty); `b` was forgotten and comes back with a full bucket (one burst at most).
    expect(throttle.take('a').allowed).toBe(false);
    expect(throttle.take('b').allowed).toBe(true);
    expect(evicted).toBe(2);
    // A flood of new credentials never grows the map.
    for (let i = 0; i < 10_000; i++) throttle.take(`x-${i}`);
    expect(throttle.size()).toBe(3);
    expect(evicted).toBe(10_002);
  });
});

describe('credential flags writer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes a flag at once; while the warehouse is down keeps at most maxPending (overflow counted), retries, and drops what is left at stop', async () => {
    vi.useFakeTimers();
    let down = false;
    const inserted: Record<string, unknown>[][] = [];
    let attempts = 0;
    const warehouse = {
      insertRows: (table: string, rows: Record<string, unknown>[]) => {
        attempts++;
        expect(table).toBe('credential_flags');
        if (down) return Promise.reject(new Error('warehouse down (test)'));
        inserted.push(rows);
        return Promise.resolve();
      },
    } as unknown as Warehouse;
    const metrics = createVerifierMetrics();
    const flags = createCredentialFlags({ maxPending: 2, retryMs: 1000 }, { warehouse, metrics, logger });
    const flag = (i: number): CredentialFlag => ({ at: Date.UTC(2026, 10, 26, 0, 0, i), credential: `scn-${i}`, scanner: `scn-${i}`, venue: '', transport: 'mqtt' });
    const outcomes = async () => Object.fromEntries((await metrics.flags.get()).values.map((v) => [String(v.labels.outcome), v.value]));

    flags.record(flag(0));
    await flags.flush();
    expect(inserted).toEqual([[{ at: '2026-11-26 00:00:00.000', credential: 'scn-0', scanner: 'scn-0', venue: '', transport: 'mqtt' }]]);

    down = true;
    for (let i = 1; i <= 5; i++) flags.record(flag(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(flags.pending).toBe(2);
    expect(await outcomes()).toEqual({ written: 1, dropped: 3 });
    // Retried every retryMs while down, never more often.
    const before = attempts;
    await vi.advanceTimersByTimeAsync(3000);
    expect(attempts - before).toBe(3);
    down = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(inserted.at(-1)!.map((r) => r.credential)).toEqual(['scn-1', 'scn-2']);
    expect(flags.pending).toBe(0);

    down = true;
    flags.record(flag(9));
    await flags.stop();
    expect(await outcomes()).toEqual({ written: 3, dropped: 4 });
    // Stopped: nothing more is queued.
    flags.record(flag(10));
    expect(flags.pending).toBe(0);
  });
});

describe('credential rates through the verification engine', () => {
  const issuers = createTestIssuers();
  const c = clock(Date.now());
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let warehouse: Warehouse;
  let service: VerifierService;
  let door: RegisteredDevice;
  let url: string;

  beforeAll(async () => {
    data = await createDataDir('cityops-verifier-rates-');
    warehouse = await openWarehouse({ backend: 'chdb', path: join(data.dir, 'warehouse') });
    await data.write('trust.json', trustEntries(issuers));
    service = createVerifierService(
      {
        http: { port: 0 },
        trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
        pool: { enabled: false },
        cache: { maxEntries: 0 },
        rates: { checksPerSecond: 5, burst: 3, flagWindowMs: 60_000 },
        audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20 },
      },
      { warehouse, logger, now: c.now },
    );
    // The door whose HTTP checks are counted: a scanner registered at its venue, asking with its credentials.
    door = (await registerDevices(warehouse, [{ id: 'scn-http', at: 'pudong/pudong-s01/g001/b02' }]))[0]!;
    url = (await service.start()).httpUrl;
  });

  afterAll(async () => {
    await service?.stop();
    await warehouse?.close();
    await data?.remove();
  });

  const count = async (sql: string, params: Record<string, string> = {}) => Number((await warehouse.query<{ n: string }>(sql, params))[0]!.n);
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    (await service.metrics.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;

  it('answers a flooding credential THROTTLED without verifying or recording it, flags it once, and leaves others alone', async () => {
    const qr = issuers.health.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: c.now() });
    const verdicts: Verdict[] = [];
    for (let i = 0; i < 20; i++) verdicts.push(await service.verify({ qr, venue: 'pudong/pudong-s01/g001/b01', scanner: 'scn-flood', credential: 'scn-flood' }));
    expect(verdicts.slice(0, 3).map((v) => v.reason)).toEqual(['OK', 'OK', 'OK']);
    expect(verdicts.slice(3).every((v) => v.verdict === 'deny' && v.reason === 'THROTTLED' && v.kind === null && v.retryAfterMs === 200)).toBe(true);
    // Another scanner at the same venue, and a request without credential (open mode), are not limited by it.
    expect((await service.verify({ qr, venue: 'pudong/pudong-s01/g001/b01', scanner: 'scn-door', credential: 'scn-door' })).reason).toBe('OK');
    for (let i = 0; i < 10; i++) expect((await service.verify({ qr, venue: 'dev-venue' })).reason).toBe('OK');
    await service.audit!.flush();
    await service.flags!.flush();
    // 3 + 1 + 10 verdicts in the audit; none of the 17 throttled ones.
    expect(await count("SELECT count() AS n FROM verification_events WHERE scanner = 'scn-flood'")).toBe(3);
    expect(await count("SELECT count() AS n FROM verification_events WHERE reason = 'THROTTLED'")).toBe(0);
    expect(await count('SELECT count() AS n FROM verification_events')).toBe(14);
    // One flag for the whole flood.
    const flags = await warehouse.query<{ credential: string; scanner: string; venue: string; transport: string }>(
      'SELECT credential, scanner, venue, transport FROM credential_flags',
    );
    expect(flags).toEqual([{ credential: 'scn-flood', scanner: 'scn-flood', venue: 'pudong/pudong-s01/g001/b01', transport: 'http' }]);
    expect(await metric('cityops_verifier_throttled_total', { transport: 'http' })).toBe(17);
    expect(await metric('cityops_verifier_flagged_credentials')).toBe(1);
    expect(await metric('cityops_verifier_verdicts_total', { reason: 'THROTTLED' })).toBe(0);
    expect(await metric('cityops_verifier_credential_flags_total', { outcome: 'written' })).toBe(1);

    // The flood goes on into the next window: one more flag, no more.
    c.advance(60_000);
    for (let i = 0; i < 40; i++) await service.verify({ qr, scanner: 'scn-flood', credential: 'scn-flood', transport: 'mqtt' });
    await service.flags!.flush();
    expect(await count('SELECT count() AS n FROM credential_flags')).toBe(2);
    expect(await metric('cityops_verifier_throttled_total', { transport: 'mqtt' })).toBe(37);
  });

  it('answers THROTTLED on POST /v1/verify as 429 with Retry-After and the deny verdict as body; a batch keeps 200 per item', async () => {
    const qr = issuers.health.issueHealthCode({ subject: 'p-2', colour: 'green', issuedAt: c.now() });
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: door.basic, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { statusCode: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
    };
    const send = () => post('/v1/verify', { qr });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await send());
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 429]);
    expect(answers[3]!.retryAfter).toBe('1');
    expect(answers[3]!.body).toMatchObject({ verdict: 'deny', reason: 'THROTTLED', kind: null, retryAfterMs: 200 });
    const batch = await post('/v1/verify/batch', { items: [{ qr }, { qr }] });
    expect(batch.statusCode).toBe(200);
    expect((batch.body as unknown as { results: Verdict[] }).results.map((v) => v.reason)).toEqual(['THROTTLED', 'THROTTLED']);
    // After the refill (5 a second), the door is answered again.
    c.advance(1000);
    expect((await send()).statusCode).toBe(200);
  });
});

describe('offline event budget (per credential and minute of the door\'s clock)', () => {
  it('admits 2 × (rate × 60 + burst) events a minute over any number of uploads, each minute apart, flags once per window, and stays bounded', () => {
    const evicted = vi.fn();
    const budget = createOfflineEventBudget({ checksPerSecond: 5, burst: 30, maxKeys: 3, flagWindowMs: 60_000 }, { onEvict: evicted });
    const minute = 1_000 * 60_000;
    const admitted = (credential: string, at: number, n: number) => Array.from({ length: n }, () => budget.admit(credential, at)).filter(Boolean).length;
    expect(admitted('scn-1', minute, 600)).toBe(600);
    expect(admitted('scn-1', minute + 59_999, 100)).toBe(60);
    expect(admitted('scn-1', minute + 60_000, 10)).toBe(10);
    expect(admitted('scn-2', minute, 10)).toBe(10);
    expect([budget.flag('scn-1', 0), budget.flag('scn-1', 59_999), budget.flag('scn-1', 60_000)]).toEqual([true, false, true]);
    // Three (credential, minute) counters and three flags at most: the oldest forgotten, counted.
    expect(admitted('scn-3', minute, 1)).toBe(1);
    expect(evicted).toHaveBeenCalled();
  });
});
