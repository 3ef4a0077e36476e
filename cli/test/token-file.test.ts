import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAnalyticsApi, createAnalyticsAccess, createAnalyticsMetrics, type IndicatorEngine } from '@cityops/analytics';
import { createIngestAccess } from '@cityops/ingest';
import { mintAccessToken, type AccessTokenEntry } from '@cityops/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createShutdown } from '../src/shutdown.ts';
import { tokenFileOption } from '../src/token-file.ts';

/** `--tokens FILE` revocable at runtime (issue 6): one live store for every service, replaced when the file changes. */

const ana = mintAccessToken('ana', 'analyst');
const bo = mintAccessToken('bo', 'operator');

describe('tokens file watched while services run', () => {
  let dir: string;
  const shutdown = createShutdown();
  const errors: unknown[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(JSON.parse(line)) });
  let app: ReturnType<typeof buildAnalyticsApi>;
  let url: string;
  let store: NonNullable<Awaited<ReturnType<typeof tokenFileOption>>['store']>;
  // Written beside, then renamed over the file, as editors and deploy tools do.
  const rewrite = async (content: string) => {
    await writeFile(join(dir, 'tokens.next'), content);
    await rename(join(dir, 'tokens.next'), join(dir, 'tokens.json'));
  };
  const indicators = (token: string) => fetch(`${url}/v1/indicators`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  const ingestReads = (token: string) =>
    createIngestAccess(undefined, store)
      .requireReader({ headers: { authorization: `Bearer ${token}` } } as unknown as Parameters<ReturnType<typeof createIngestAccess>['requireReader']>[0])
      .then(() => 'allowed', (err: { code: string }) => err.code);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-token-file-'));
    await writeFile(join(dir, 'tokens.json'), JSON.stringify([ana.entry, bo.entry]));
    const option = await tokenFileOption(join(dir, 'tokens.json'), shutdown, { logger, intervalMs: 20 });
    expect(option.tokens).toEqual([ana.entry, bo.entry]);
    store = option.store!;
    const engine = { definitions: [] } as unknown as IndicatorEngine;
    app = buildAnalyticsApi({ engine, metrics: createAnalyticsMetrics(), logger, ready: () => Promise.resolve(true), access: createAnalyticsAccess(store) });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await shutdown.run();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('revokes a removed entry at the next request (401), in every service sharing the store, and grants an added one', async () => {
    expect([await indicators(ana.token), await indicators(bo.token)]).toEqual([200, 200]);
    expect(await ingestReads(ana.token)).toBe('allowed');

    await rewrite(JSON.stringify([bo.entry]));
    await vi.waitFor(async () => expect(await indicators(ana.token)).toBe(401), { timeout: 5_000, interval: 20 });
    expect(await ingestReads(ana.token)).toBe('INGEST_ERR_UNAUTHORIZED');
    expect(await indicators(bo.token)).toBe(200);

    await rewrite(JSON.stringify([bo.entry, ana.entry] satisfies AccessTokenEntry[]));
    await vi.waitFor(async () => expect(await indicators(ana.token)).toBe(200), { timeout: 5_000, interval: 20 });
    expect(errors).toEqual([]);
  });

  it('keeps the tokens in force on a malformed or invalid rewrite, logging one coded error each, and never opens access', async () => {
    for (const [i, bad] of ['[{"name": "x", "role"', JSON.stringify([{ ...bo.entry, role: 'root' }]), '{}'].entries()) {
      await rewrite(bad);
      await vi.waitFor(() => expect(errors).toHaveLength(i + 1), { timeout: 5_000, interval: 20 });
      expect(errors[i]).toMatchObject({ level: 50, err: { code: 'CLI_ERR_TOKENS_FILE' } });
      expect(JSON.stringify(errors[i])).not.toContain(bo.token);
      expect([await indicators(ana.token), await indicators(bo.token)]).toEqual([200, 200]);
    }
    // Emptied: everyone is refused, not let in as in development.
    await rewrite('[]');
    await vi.waitFor(async () => expect(await indicators(bo.token)).toBe(401), { timeout: 5_000, interval: 20 });
    expect(store.configured).toBe(true);
    expect(errors).toHaveLength(3);
  });
});
