import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createIngestService, type IngestService } from '@cityops/ingest';
import { parsePlace, topics } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import type { VerifierConfigInput } from '../src/verifier-config.ts';
import { createVerifierGroup, rendezvousOwner } from '../src/verifier-group.ts';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, trustEntries } from './code-fixtures.ts';

const issuers = createTestIssuers();
const SCANNERS = Array.from({ length: 8 }, (_, i) => `gate-${i + 1}`);
const PLACE = parsePlace('huangpu/nanjing-east/g001');

async function answered(service: VerifierService | undefined): Promise<number> {
  const values = (await service?.metrics.mqttRequests.get())?.values ?? [];
  return values.filter((v) => v.labels.outcome === 'answered').reduce((n, v) => n + v.value, 0);
}

describe('several verifiers on one broker share the scanners (rendezvous hashing over live members)', () => {
  let dir: string;
  let warehouse: Warehouse;
  let ingest: IngestService;
  let mqttUrl: string;
  const secrets = new Map<string, string>();
  const scanners = new Map<string, MqttClient>();
  /** Answers received per request id. */
  const answers = new Map<string, number>();
  const verifiers: VerifierService[] = [];
  let child: ChildProcess | undefined;
  let serial = 0;

  function config(id: string): VerifierConfigInput {
    return {
      http: { port: 0 },
      mqtt: { url: mqttUrl, username: id, password: secrets.get(id)!, clientId: id, keepaliveSec: 5 },
      trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000 },
      pool: { enabled: false },
      cache: { maxEntries: 0 },
    };
  }

  async function startVerifier(id: string): Promise<VerifierService> {
    // The scanners are registered with ingest's registry: the verifiers in this process share it.
    const service = createVerifierService(config(id), { logger: pino({ level: 'silent' }), registry: ingest.registry });
    verifiers.push(service);
    await service.start();
    return service;
  }

  /** Sends `perScanner` requests from each scanner and waits until each has an answer. */
  async function ask(from: readonly string[], perScanner: number): Promise<string[]> {
    const ids: string[] = [];
    await Promise.all(
      from.flatMap((scanner) =>
        Array.from({ length: perScanner }, () => {
          const id = `r-${serial++}`;
          ids.push(id);
          const qr = issuers.health.issueHealthCode({ subject: `p-${id}`, colour: 'green' });
          return scanners.get(scanner)!.publishAsync(topics.verifyRequest(scanner), JSON.stringify({ id, qr }), { qos: 1 });
        }),
      ),
    );
    await vi.waitFor(() => expect(ids.filter((id) => !answers.has(id))).toEqual([]), { timeout: 10_000 });
    return ids;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-verifier-group-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    ingest = createIngestService(
      { dataDir: dir, mqtt: { port: 0 }, http: { port: 0, adminToken: 'test-admin-token-0123456789' } },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    mqttUrl = (await ingest.start()).mqttUrl;
    await writeFile(join(dir, 'trust.json'), JSON.stringify(trustEntries(issuers)));
    for (const id of ['verifier-a', 'verifier-b', 'verifier-c']) secrets.set(id, (await ingest.registry.add({ id, kind: 'service', place: PLACE })).secret);
    for (const id of SCANNERS) {
      const { secret } = await ingest.registry.add({ id, kind: 'scanner', place: PLACE });
      const client = await connectAsync(mqttUrl, { clientId: id, username: id, password: secret, protocolVersion: 4, reconnectPeriod: 0 });
      client.on('message', (_topic, payload) => {
        const { id: rid } = JSON.parse(payload.toString('utf8')) as { id: string };
        answers.set(rid, (answers.get(rid) ?? 0) + 1);
      });
      await client.subscribeAsync(topics.verifyResponse(id), { qos: 1 });
      scanners.set(id, client);
    }
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await Promise.all([...scanners.values()].map((c) => c.endAsync(true)));
    for (const v of verifiers) await v.stop();
    await ingest?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers each of 200 requests from 8 scanners exactly once, split between two verifiers', async () => {
    const a = await startVerifier('verifier-a');
    const b = await startVerifier('verifier-b');
    await vi.waitFor(() => {
      expect(a.mqtt!.members()).toEqual(['verifier-a', 'verifier-b']);
      expect(b.mqtt!.members()).toEqual(['verifier-a', 'verifier-b']);
    });
    const ofA = SCANNERS.filter((s) => rendezvousOwner(['verifier-a', 'verifier-b'], s) === 'verifier-a');
    expect(ofA.length).toBeGreaterThan(0);
    expect(ofA.length).toBeLessThan(SCANNERS.length);

    const ids = await ask(SCANNERS, 25);
    expect(ids).toHaveLength(200);
    // Each verifier answered exactly its scanners' requests, and no request twice.
    await vi.waitFor(async () => expect((await answered(a)) + (await answered(b))).toBeGreaterThanOrEqual(200));
    expect(await answered(a)).toBe(ofA.length * 25);
    expect(await answered(b)).toBe((SCANNERS.length - ofA.length) * 25);
    expect(ids.filter((id) => answers.get(id) !== 1)).toEqual([]);

    // Offline uploads are partitioned the same way: one answer each.
    const uploads = SCANNERS.map((s) => `upload-${s}`);
    await Promise.all(
      SCANNERS.map((s) => scanners.get(s)!.publishAsync(topics.verifyEvents(s), JSON.stringify({ id: `upload-${s}`, events: [] }), { qos: 1 })),
    );
    await vi.waitFor(() => expect(uploads.filter((id) => !answers.has(id))).toEqual([]));
    await ask(SCANNERS, 1); // a barrier: a second answer to an upload would have come before these
    expect(uploads.map((id) => answers.get(id))).toEqual(SCANNERS.map(() => 1));
  });

  it('a verifier that stops hands its scanners over; one killed without DISCONNECT is replaced when its will arrives', async () => {
    const [a, b] = verifiers as [VerifierService, VerifierService];
    await b.stop();
    await vi.waitFor(() => expect(a.mqtt!.members()).toEqual(['verifier-a']));
    const before = await answered(a);
    await ask(SCANNERS, 5);
    expect((await answered(a)) - before).toBe(40);

    // verifier-c in a process of its own, killed with SIGKILL: the broker sees the socket close
    // without DISCONNECT and publishes its will.
    // A process of its own has no access to this process's embedded registry: open mode answers its
    // scanners without placing them (the group, not the venue, is what this test is about).
    const childConfig = { ...config('verifier-c'), http: { port: 0, verifyAccess: 'open' } };
    child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./verifier-process.ts', import.meta.url)), JSON.stringify(childConfig)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(line.toString()).toContain('ready');
    await vi.waitFor(() => expect(a.mqtt!.members()).toEqual(['verifier-a', 'verifier-c']), { timeout: 10_000 });
    const ofC = SCANNERS.filter((s) => rendezvousOwner(['verifier-a', 'verifier-c'], s) === 'verifier-c');
    expect(ofC.length).toBeGreaterThan(0);
    const beforeC = await answered(a);
    await ask(ofC, 5);
    expect(await answered(a)).toBe(beforeC);

    child.kill('SIGKILL');
    await once(child, 'exit');
    child = undefined;
    await vi.waitFor(() => expect(a.mqtt!.members()).toEqual(['verifier-a']), { timeout: 15_000 });
    const afterKill = await answered(a);
    const ids = await ask(SCANNERS, 5);
    expect((await answered(a)) - afterKill).toBe(40);
    expect(ids.filter((id) => answers.get(id) !== 1)).toEqual([]);
  });

  it('answers every request streamed while a verifier joins and while it leaves (a duplicate at most around the change)', async () => {
    const [a] = verifiers as [VerifierService];
    expect(a.mqtt!.members()).toEqual(['verifier-a']);
    /** Requests in rounds (one per scanner) until `churn` settles, then every one must have an answer. */
    async function streamDuring(churn: Promise<unknown>): Promise<string[]> {
      let done = false;
      void churn.finally(() => (done = true));
      const ids: string[] = [];
      for (let round = 0; round < 3 || !done; round++) ids.push(...(await ask(SCANNERS, 1)));
      await churn;
      ids.push(...(await ask(SCANNERS, 1)));
      return ids;
    }
    const b = createVerifierService(config('verifier-b'), { logger: pino({ level: 'silent' }), registry: ingest.registry });
    verifiers.push(b);
    const joined = streamDuring(
      (async () => {
        await b.start();
        await vi.waitFor(() => expect(a.mqtt!.members()).toEqual(['verifier-a', 'verifier-b']));
      })(),
    );
    const joining = await joined;
    const left = await streamDuring(b.stop());
    expect(a.mqtt!.members()).toEqual(['verifier-a']);
    // ask() already waited for an answer to each; a second one is allowed around the change only.
    const twice = [...joining, ...left].filter((id) => answers.get(id)! > 1);
    expect(twice.length).toBeLessThanOrEqual(2 * SCANNERS.length);
  });

  it('ignores other devices, other groups and non-partitioning verifiers in the live set', () => {
    const group = createVerifierGroup({ verifierId: 'v1', group: 'g', partition: true });
    const status = (body: object) => Buffer.from(JSON.stringify(body));
    expect(group.onStatus('gw-1', status({ online: true, boot: 1 }))).toBe(false);
    expect(group.onStatus('v2', status({ online: true, service: 'verifier', group: 'other', partition: true }))).toBe(false);
    expect(group.onStatus('v3', status({ online: true, service: 'verifier', group: 'g', partition: false }))).toBe(false);
    expect(group.onStatus('v4', Buffer.from('not json'))).toBe(false);
    expect(group.onStatus('v5', status({ online: true, service: 'verifier', group: 'g', partition: true, ts: 1 }))).toBe(true);
    expect(group.members()).toEqual(['v1', 'v5']);
    // Rendezvous: v1 owns exactly the scanners it wins against v5, all of them once v5's will arrives.
    const owned = SCANNERS.filter((s) => group.owns(s));
    expect(owned).toEqual(SCANNERS.filter((s) => rendezvousOwner(['v1', 'v5'], s) === 'v1'));
    expect(group.onStatus('v5', status({ online: false, service: 'verifier', group: 'g', partition: true, reason: 'connection-lost' }))).toBe(true);
    expect(SCANNERS.every((s) => group.owns(s))).toBe(true);
    // Partitioning off: every scanner, whoever else is there.
    const alone = createVerifierGroup({ verifierId: 'v9', group: 'g', partition: false });
    alone.onStatus('v5', status({ online: true, service: 'verifier', group: 'g', partition: true }));
    expect(SCANNERS.every((s) => alone.owns(s))).toBe(true);
  });
});
