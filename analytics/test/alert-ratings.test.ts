import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { mintAccessToken } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildAnalyticsApi,
  createAlertLifecycle,
  createAnalyticsAccess,
  createAnalyticsMetrics,
  createIndicatorEngine,
  loadIndicatorDefinitions,
  parseAnalyticsConfig,
  type AlertLifecycle,
  type AlertNotification,
  type AlertSignal,
} from '../src/index.ts';
import { HOUR, MINUTE, pmSignal } from './alert-lifecycle-fixtures.ts';

// Times relative to now (never today's date); the clock only moves forward, by hand.
let clock = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
const start = clock;
const active = new Set<string>();
const hooks: AlertNotification[] = [];
const mqtt: string[] = [];

const operator = mintAccessToken('Duty officer Zhang San', 'operator');
const department = mintAccessToken('Pudong ecology desk', 'department', ['pudong-ecology']);
const analyst = mintAccessToken('Analyst Wang', 'analyst');
const bureau = mintAccessToken('Municipal ecology bureau', 'department', ['city-ecology']);
const TTL = 2 * HOUR;

const config = parseAnalyticsConfig({
  alerts: {
    webhooks: [{ url: 'http://hotline.invalid/alerts' }],
    ratings: { linkSecret: 'a-test-secret-of-at-least-32-characters!!', linkTtlMs: TTL, linkBaseUrl: 'http://city.invalid/rate', maxCommentChars: 200 },
  },
});

let dir: string;
let wh: Warehouse;
let lifecycle: AlertLifecycle;
let app: ReturnType<typeof buildAnalyticsApi>;

type Body = Record<string, unknown> & { code?: string; state?: string; alerts?: { id: string }[]; events?: { type: string; actor: string; feedback: string; rating?: string; flaggedFor?: string }[] };

async function call(method: 'GET' | 'POST', url: string, payload?: object, token?: string) {
  const response = await app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
  });
  return { status: response.statusCode, body: response.json<Body>(), text: response.body };
}

/** A condition-verified signal at a pudong grid (ecology); the condition's truth is `active`. */
function signal(grid: string, extra: Partial<AlertSignal> = {}): AlertSignal {
  return pmSignal(grid, clock, { verification: { by: 'condition', windowMs: MINUTE, windows: 1 }, ...extra });
}

/** Raises, accepts and resolves an alert through the lifecycle; the condition clears unless `stillActive`. */
async function handled(grid: string, stillActive = false): Promise<string> {
  const s = signal(grid);
  active.add(s.key);
  await lifecycle.raise(s);
  const id = lifecycle.list({ rule: 'pm25_grid' }).find((a) => a.key === s.key && a.state === 'dispatched')!.id;
  clock += 3 * MINUTE;
  await lifecycle.accept(id, { name: 'desk' });
  clock += 10 * MINUTE;
  if (!stillActive) {
    active.delete(s.key);
    await lifecycle.clear(s.key, clock);
  }
  await lifecycle.resolve(id, 'swept the site', { name: 'desk' });
  return id;
}

function linkFor(id: string, type: string): string {
  const n = hooks.find((h) => h.event.alertId === id && h.event.type === type);
  return n!.ratingLink!.token;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-alert-ratings-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  const metrics = createAnalyticsMetrics();
  const logger = pino({ level: 'silent' });
  const engine = createIndicatorEngine(loadIndicatorDefinitions(), { warehouse: wh, now: () => clock });
  const fetch = ((_url: string, init: { body: string }) => {
    hooks.push(JSON.parse(init.body) as AlertNotification);
    return Promise.resolve(new Response(null, { status: 204 }));
  }) as unknown as typeof globalThis.fetch;
  lifecycle = createAlertLifecycle(config.alerts, {
    warehouse: wh,
    engine,
    logger,
    metrics: metrics.alerts,
    now: () => clock,
    fetch,
    publish: (_topic, payload) => void mqtt.push(payload),
    conditions: { isActive: (key) => active.has(key) },
  });
  await lifecycle.start();
  const access = createAnalyticsAccess([operator.entry, department.entry, analyst.entry, bureau.entry]);
  app = buildAnalyticsApi({
    engine,
    metrics,
    logger,
    ready: () => Promise.resolve(true),
    alerts: { lifecycle, operators: [] },
    ratings: { lifecycle, warehouse: wh },
    access,
    now: () => clock,
  });
});

afterAll(async () => {
  await app?.close();
  await lifecycle?.stop();
  await wh?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rating from the screen', () => {
  it('stores a good rating as an alert event without the rater, once per stage and channel', async () => {
    const id = await handled('g101');
    const rated = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'good', comment: 'quick and clean' }, operator.token);
    expect(rated.status).toBe(200);
    expect(rated.body.state).toBe('resolved');
    const event = rated.body.events!.at(-1)!;
    expect(event).toMatchObject({ type: 'rated', actor: 'rater:screen', rating: 'good', feedback: 'quick and clean' });
    expect(rated.text).not.toContain('Zhang San');
    const again = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'bad' }, operator.token);
    expect([again.status, again.body.code]).toEqual([409, 'ANALYTICS_ERR_RATING_DUPLICATE']);
    // Stored: a restart's fold sees the same rating.
    const [row] = await wh.query<{ actor: string; rating: string; rating_stage: string }>(
      "SELECT actor, rating, rating_stage FROM alert_events WHERE alert_id = {id:String} AND type = 'rated'",
      { id },
    );
    expect(row).toEqual({ actor: 'rater:screen', rating: 'good', rating_stage: 'resolved' });
  });

  it('rates again when closed, and refuses an alert that was never resolved', async () => {
    const id = await handled('g102');
    clock += 2 * MINUTE;
    await lifecycle.verifyNow();
    expect((await lifecycle.get(id))!.state).toBe('closed');
    const rated = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'good' }, operator.token);
    expect(rated.body.events!.at(-1)).toMatchObject({ type: 'rated', rating: 'good' });
    expect((await lifecycle.get(id))!.events.at(-1)!.ratingStage).toBe('closed');

    await lifecycle.raise(signal('g103'));
    const open = lifecycle.list({ state: 'dispatched' }).find((a) => a.place.endsWith('g103'))!;
    const refused = await call('POST', `/v1/alerts/${open.id}/rate`, { rating: 'good' }, operator.token);
    expect([refused.status, refused.body.code]).toEqual([409, 'ANALYTICS_ERR_RATING_NOT_RATEABLE']);
  });

  it('a bad rating reopens the case while the condition is active', async () => {
    const id = await handled('g104', true);
    const rated = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'bad' }, operator.token);
    expect(rated.body.state).toBe('dispatched');
    expect(rated.body.events!.slice(-3).map((e) => e.type)).toEqual(['rated', 'reopened', 'dispatched']);
    expect(rated.body.events!.at(-2)!.feedback).toContain("the rule's condition is still active");
  });

  it('a bad rating reopens the case when the comment says the problem remains, else flags it for the supervisor', async () => {
    const still = await handled('g105');
    const reopened = await call('POST', `/v1/alerts/${still}/rate`, { rating: 'bad', comment: 'The smell is STILL THERE at night' }, operator.token);
    expect(reopened.body.state).toBe('dispatched');
    expect(reopened.body.events!.at(-2)!.feedback).toContain('the comment says the problem remains');

    const gone = await handled('g106');
    const flagged = await call('POST', `/v1/alerts/${gone}/rate`, { rating: 'bad', comment: 'rude on the phone' }, operator.token);
    expect(flagged.body.state).toBe('resolved');
    expect(flagged.body.events!.at(-1)).toMatchObject({ type: 'flagged', flaggedFor: 'city-ecology' });
    expect(flagged.body.flaggedFor).toBe('city-ecology');
    // The supervising office's console is told too.
    expect(mqtt.some((p) => p.includes('"flagged"') && p.includes(gone))).toBe(true);
    // ... and its department role sees the flagged case (its review), listed and read; the handling department still does.
    expect((await call('GET', `/v1/alerts/${gone}`, undefined, bureau.token)).status).toBe(200);
    expect(((await call('GET', '/v1/alerts?department=city-ecology', undefined, bureau.token)).body.alerts ?? []).map((a) => a.id)).toContain(gone);
    expect((await call('GET', `/v1/alerts/${still}`, undefined, bureau.token)).status).toBe(404);
    expect((await call('GET', `/v1/alerts/${gone}`, undefined, department.token)).status).toBe(200);
  });

  it('refuses a department, an oversized comment, control characters and an unknown alert', async () => {
    const id = await handled('g107');
    const dept = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'good' }, department.token);
    expect([dept.status, dept.body.code]).toEqual([403, 'ANALYTICS_ERR_ROLE_FORBIDDEN']);
    const long = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'good', comment: '好'.repeat(201) }, operator.token);
    expect([long.status, long.body.code]).toEqual([400, 'ANALYTICS_ERR_RATING_INVALID']);
    const huge = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'good', comment: 'x'.repeat(5000) }, operator.token);
    expect([huge.status, huge.body.code]).toEqual([400, 'ANALYTICS_ERR_ALERT_REQUEST_INVALID']);
    const nul = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'good', comment: 'a\u0000b' }, operator.token);
    expect([nul.status, nul.body.code]).toEqual([400, 'ANALYTICS_ERR_RATING_INVALID']);
    const meh = await call('POST', `/v1/alerts/${id}/rate`, { rating: 'meh' }, operator.token);
    expect(meh.status).toBe(400);
    const unknown = await call('POST', `/v1/alerts/${randomUUID()}/rate`, { rating: 'good' }, operator.token);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'ANALYTICS_ERR_ALERT_UNKNOWN']);
    expect((await lifecycle.get(id))!.events.some((e) => e.type === 'rated')).toBe(false);
  });
});

describe("a reporter's one-time link", () => {
  it('is carried in the webhook notification (not on MQTT), rates once, and refuses reuse', async () => {
    const id = await handled('g110');
    const n = hooks.find((h) => h.event.alertId === id && h.event.type === 'resolved')!;
    expect(n.ratingLink!.url).toBe(`http://city.invalid/rate?token=${n.ratingLink!.token}`);
    expect(n.ratingLink!.expiresAt).toBe(clock + TTL);
    expect(mqtt.some((p) => p.includes(n.ratingLink!.token))).toBe(false);
    const token = linkFor(id, 'resolved');
    const shown = await call('GET', `/v1/ratings/link?token=${token}`);
    expect(shown.body).toMatchObject({ stage: 'resolved', rated: false, alert: { id, state: 'resolved' } });
    expect(shown.body.events).toBeUndefined();
    const first = await call('POST', '/v1/ratings/link', { token, rating: 'good', comment: 'fixed the same day' });
    expect([first.status, first.body.rated]).toEqual([200, true]);
    expect((await lifecycle.get(id))!.events.at(-1)).toMatchObject({ type: 'rated', actor: 'rater:link', rating: 'good' });
    const reuse = await call('POST', '/v1/ratings/link', { token, rating: 'bad' });
    expect([reuse.status, reuse.body.code]).toEqual([409, 'ANALYTICS_ERR_RATING_LINK_USED']);
  });

  it('refuses an expired link (the injected clock), a forged one and one for an unknown alert', async () => {
    const id = await handled('g111');
    const token = linkFor(id, 'resolved');
    const forged = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    expect((await call('POST', '/v1/ratings/link', { token: forged, rating: 'good' })).body.code).toBe('ANALYTICS_ERR_RATING_LINK_INVALID');
    const other = token.replace(id, randomUUID());
    expect((await call('POST', '/v1/ratings/link', { token: other, rating: 'good' })).body.code).toBe('ANALYTICS_ERR_RATING_LINK_INVALID');
    const unknown = lifecycle.ratingLinks.sign(randomUUID(), 'resolved', clock + HOUR);
    expect((await call('POST', '/v1/ratings/link', { token: unknown, rating: 'good' })).status).toBe(404);
    const garbage = await call('POST', '/v1/ratings/link', { token: 'v1.' + 'A'.repeat(150), rating: 'good' });
    expect([garbage.status, garbage.body.code]).toEqual([400, 'ANALYTICS_ERR_RATING_INVALID']);
    clock += TTL;
    const expired = await call('POST', '/v1/ratings/link', { token, rating: 'good' });
    expect([expired.status, expired.body.code]).toEqual([410, 'ANALYTICS_ERR_RATING_LINK_EXPIRED']);
    expect((await lifecycle.get(id))!.events.some((e) => e.type === 'rated')).toBe(false);
  });
});

describe('department indicators', () => {
  it('equal the counts from the events, by department and district; comments for operators only, never a rater', async () => {
    const url = `/v1/department-indicators?from=${start}&to=${clock + 1}`;
    const asOperator = await call('GET', url, undefined, operator.token);
    expect(asOperator.status).toBe(200);
    const groups = asOperator.body.groups as { group: string; ratings: number; good: number; accepted: number; resolved: number; reopened: number; flagged: number; reopenRate: number; goodShare: number; comments?: { comment: string }[] }[];
    const [counts] = await wh.query<{ rated: string; good: string; accepted: string; resolved: string; reopened: string; flagged: string }>(
      `SELECT countIf(type = 'rated') AS rated, countIf(rating = 'good') AS good, countIf(type = 'accepted') AS accepted,
        countIf(type = 'resolved') AS resolved, countIf(type = 'reopened') AS reopened, countIf(type = 'flagged') AS flagged
       FROM alert_events WHERE department = 'pudong-ecology'`,
    );
    const pudong = groups.find((g) => g.group === 'pudong-ecology')!;
    expect(pudong).toMatchObject({
      ratings: Number(counts!.rated),
      good: Number(counts!.good),
      accepted: Number(counts!.accepted),
      resolved: Number(counts!.resolved),
      reopened: Number(counts!.reopened),
      flagged: Number(counts!.flagged),
    });
    expect(pudong.ratings).toBe(6);
    // Every case was accepted 3 minutes after its dispatch and resolved 10 minutes later.
    expect(pudong).toMatchObject({ acceptSecondsAvg: 180, resolveSecondsAvg: 780 });
    expect(pudong.goodShare).toBeCloseTo(Number(counts!.good) / Number(counts!.rated));
    expect(pudong.reopenRate).toBeCloseTo(Number(counts!.reopened) / Number(counts!.resolved));
    expect(pudong.comments!.map((c) => c.comment)).toContain('rude on the phone');
    const byDistrict = await call('GET', `${url}&by=district`, undefined, operator.token);
    expect((byDistrict.body.groups as { group: string; ratings: number }[]).find((g) => g.group === 'pudong')!.ratings).toBe(6);

    const asAnalyst = await call('GET', url, undefined, analyst.token);
    expect(asAnalyst.status).toBe(200);
    expect(asAnalyst.text).not.toContain('rude on the phone');
    expect((asAnalyst.body.groups as { comments?: unknown }[]).every((g) => g.comments === undefined)).toBe(true);
    for (const r of [asOperator, asAnalyst]) expect(r.text).not.toMatch(/Zhang San|Analyst Wang|desk/);
    // The analyst sees no alert (and so no comment) at all; nobody sees a rater anywhere.
    expect((await call('GET', '/v1/alerts', undefined, analyst.token)).status).toBe(403);
    const [named] = await wh.query<{ n: string }>("SELECT count() AS n FROM alert_events WHERE type = 'rated' AND actor NOT LIKE 'rater:%'");
    expect(Number(named!.n)).toBe(0);
    expect((await call('GET', url)).status).toBe(401);
    expect((await call('GET', `/v1/department-indicators?from=${clock}&to=${start}`, undefined, analyst.token)).status).toBe(400);
  });
});

describe('alerts.ratings configuration', () => {
  it('reports every problem at once: a short link secret, a zero comment bound, a link base that is not a URL', () => {
    let message = '';
    try {
      parseAnalyticsConfig({ alerts: { ratings: { linkSecret: 'short', maxCommentChars: 0, linkBaseUrl: 'javascript:alert(1)' } } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/linkSecret/);
    expect(message).toMatch(/maxCommentChars/);
    expect(message).toMatch(/linkBaseUrl/);
    expect(parseAnalyticsConfig({}).alerts.ratings).toMatchObject({ maxCommentChars: 1000, linkTtlMs: 604_800_000, consoleMaxInFlight: 64 });
  });
});
