import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDevelopmentIssuer, parsePlace } from '@cityops/protocol';
import type { VerifierConfigInput } from '@cityops/verifier';
import { createDeviceRegistry, openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createScannerAgent, type ScannerAgent } from '../src/index.ts';
import { startAedesBroker } from './aedes-broker.ts';

// Fault: the verifier is killed with SIGKILL while scanners verify through it. The doors keep deciding
// offline from their cached copies; after the restart their offline events reach the audit trail
// exactly once, counted by event id in verification_events.

const PSEUDONYM_KEY = 'faults-test-pseudonym-key-0123456789';
const SCANNERS = ['door-1', 'door-2', 'door-3'];
const VERIFIER_PROCESS = fileURLToPath(new URL('./faults-verifier-process.ts', import.meta.url));
const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });

interface VerifierProcess {
  readonly child: ChildProcess;
  kill(): Promise<void>;
  stop(): Promise<number | null>;
}

/** The verifier in a process of its own; resolves once it printed its ready line. */
async function startVerifierProcess(config: VerifierConfigInput, warehousePath: string): Promise<VerifierProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', VERIFIER_PROCESS, JSON.stringify(config), warehousePath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let errText = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errText = (errText + chunk).slice(-8000)));
  const exited = once(child, 'exit');
  exited.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const onExit = () => reject(new Error(`verifier process exited before it was ready:\n${errText}`));
    child.once('exit', onExit);
    createInterface({ input: child.stdout }).once('line', (line) => {
      child.off('exit', onExit);
      if (line.includes('"ready":true')) resolve();
      else reject(new Error(`unexpected first line: ${line}\n${errText}`));
    });
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    async kill() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (gone()) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('fault: the verifier killed with SIGKILL mid-stream', () => {
  it('doors keep deciding offline; after the restart every offline verdict is in the audit trail exactly once', { timeout: 90_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cityops-faults-verifier-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const broker = await startAedesBroker('unused');
    cleanups.push(() => broker.stop());
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    const warehousePath = join(dir, 'warehouse');
    // The doors are registered at their venue (issue 16), before the verifier's process opens the store.
    const store = await openWarehouse({ backend: 'chdb', path: warehousePath });
    const registry = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse: store });
    await registry.start();
    for (const id of SCANNERS) await registry.add({ id, kind: 'scanner', place: parsePlace('jingan/jingan-s01/g001/b01') });
    await registry.stop();
    await store.close();
    const config: VerifierConfigInput = {
      http: { port: 0 },
      mqtt: { url: broker.url, clientId: 'verifier-faults' },
      trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000 },
      pool: { enabled: false },
      cache: { maxEntries: 0 },
      audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20 },
      // The doors scan as fast as they decide, far past a door's rate: this test is about the kill,
      // the per-credential limit has its own (verifier/test/credential-throttle, verify-requesters).
      rates: { enabled: false },
    };
    let verifier = await startVerifierProcess(config, warehousePath);
    cleanups.push(() => verifier.kill());

    const agents = new Map<string, ScannerAgent>();
    for (const id of SCANNERS) {
      const agent = createScannerAgent(
        {
          scannerId: id,
          venue: 'jingan/jingan-s01/g001/b01',
          dataDir: join(dir, id),
          mqtt: { url: broker.url, reconnectMinMs: 10, reconnectMaxMs: 100, stopTimeoutMs: 300 },
          verify: { timeoutMs: 300, probeIntervalMs: 50 },
          reference: { trust: { source: join(dir, 'trust.json') } },
          spool: { fsync: 'off', uploadTimeoutMs: 500 },
        },
        { logger: pino({ level: 'silent' }) },
      );
      agents.set(id, agent);
      cleanups.push(() => agent.stop());
      const online = new Promise<void>((resolve) => agent.once('online', resolve));
      await agent.start();
      await online;
    }

    // Each door scans one code after another, as fast as it decides, until told to stop.
    let streaming = true;
    let serial = 0;
    const doors = [...agents.values()].map(async (agent) => {
      while (streaming) {
        const result = await agent.scan(health.issueHealthCode({ subject: `p-${serial++}`, colour: 'green' }));
        expect(result.reason).toBe('OK');
      }
    });
    cleanups.push(async () => {
      streaming = false;
      await Promise.allSettled(doors);
    });
    const all = (check: (a: ScannerAgent) => boolean) => [...agents.values()].every(check);

    await vi.waitFor(() => expect(all((a) => a.stats().onlineVerdicts >= 20)).toBe(true), { timeout: 20_000, interval: 10 });
    await verifier.kill();
    const onlineAtKill = [...agents.values()].reduce((n, a) => n + a.stats().onlineVerdicts, 0);
    const offlineAtKill = new Map([...agents].map(([id, a]) => [id, a.stats().offlineVerdicts]));

    // The doors keep serving: each gives offline verdicts while the verifier is gone.
    await vi.waitFor(() => expect(all((a) => a.stats().offlineVerdicts >= 20 && a.stats().spool.pending >= 20)).toBe(true), { timeout: 20_000, interval: 10 });
    expect(all((a) => !a.stats().online)).toBe(true);

    verifier = await startVerifierProcess(config, warehousePath);
    const onlineAtRestart = new Map([...agents].map(([id, a]) => [id, a.stats().onlineVerdicts]));
    // Back online and the spools drained: each door has its verdicts from the verifier again.
    await vi.waitFor(
      () => {
        for (const [id, a] of agents) {
          expect(a.stats().online, id).toBe(true);
          expect(a.stats().onlineVerdicts, id).toBeGreaterThanOrEqual(onlineAtRestart.get(id)! + 20);
        }
      },
      { timeout: 30_000, interval: 20 },
    );
    streaming = false;
    await Promise.all(doors);
    await vi.waitFor(() => expect(all((a) => a.stats().spool.pending === 0)).toBe(true), { timeout: 20_000, interval: 20 });
    // No settling: an upload is counted in the same step as its events leave the spool, so with the
    // spools empty every door's counts are final (vi.waitFor's first check may run between two ticks).
    const stats = new Map([...agents].map(([id, a]) => [id, a.stats()]));
    for (const [id, s] of stats) {
      expect(s.uploads.eventsAccepted + s.uploads.eventsRefused, `${id} ${JSON.stringify(s.uploads)} spool ${JSON.stringify(s.spool)}`).toBe(s.offlineVerdicts);
    }
    for (const agent of agents.values()) await agent.stop();
    expect(await verifier.stop()).toBe(0); // SIGTERM: the audit buffer is flushed

    const warehouse = await openWarehouse({ backend: 'chdb', path: warehousePath });
    cleanups.push(() => warehouse.close());
    const rows = await warehouse.query<{ scanner: string; transport: string; n: number; ids: number }>(
      'SELECT scanner, transport, toUInt32(count()) AS n, toUInt32(uniqExact(event_id)) AS ids FROM verification_events GROUP BY scanner, transport ORDER BY scanner, transport',
    );
    let mqttRows = 0;
    let onlineTotal = 0;
    for (const id of SCANNERS) {
      const s = stats.get(id)!;
      expect(s.offlineVerdicts).toBeGreaterThan(offlineAtKill.get(id)!);
      const offline = rows.find((r) => r.scanner === id && r.transport === 'offline');
      // Every offline verdict the door gave: one row each, by event id, none twice.
      expect(offline, id).toMatchObject({ n: s.offlineVerdicts, ids: s.offlineVerdicts });
      expect(s.uploads.eventsAccepted).toBe(s.offlineVerdicts);
      expect(s.uploads.eventsRefused).toBe(0);
      mqttRows += rows.find((r) => r.scanner === id && r.transport === 'mqtt')?.n ?? 0;
      onlineTotal += s.onlineVerdicts;
    }
    // Online verdicts are audited from a buffer flushed every 20 ms that does not survive SIGKILL
    // ("verdicts never wait for the audit"): only verdicts of the killed verifier may be missing,
    // and a verdict the door gave up on (timeout) may be audited although the door decided offline.
    const timeouts = [...stats.values()].reduce((n, s) => n + s.offlineByCause.timeout, 0);
    expect(mqttRows).toBeGreaterThanOrEqual(onlineTotal - onlineAtKill);
    expect(mqttRows).toBeLessThanOrEqual(onlineTotal + timeouts);
    console.info(
      `verifier SIGKILL: ${[...stats.values()].reduce((n, s) => n + s.offlineVerdicts, 0)} offline verdicts, each audited once; ` +
        `online verdicts ${onlineTotal}, audited ${mqttRows} (the killed verifier's unflushed audit buffer: ${Math.max(0, onlineTotal - mqttRows)})`,
    );
  });
});
