import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createScannerAgent } from '@cityops/edge-agent';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { createVerifierService, type VerifierService } from '@cityops/verifier';
import { createDeviceRegistry, openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startAedesBroker } from '../../edge-agent/test/aedes-broker.ts';

// Fault: a scanner agent (`cityops scan`, a process of its own) is killed with SIGKILL twice: while it
// decides offline with nobody to upload to, and while it uploads its spool. Its spool survives; the
// restarted scanner uploads what is left, and each offline verdict is in the audit trail exactly once.

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const SCANNER = 'door-k';
const PSEUDONYM_KEY = 'faults-test-pseudonym-key-0123456789';
const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });

interface ScanProcess {
  readonly child: ChildProcess;
  readonly verdicts: Record<string, unknown>[];
  write(lines: readonly string[]): void;
  end(): void;
  kill(): Promise<void>;
  exited: Promise<unknown>;
}

function startScan(args: readonly string[]): ScanProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'scan', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  child.stderr.resume();
  child.stdin.on('error', () => undefined); // EPIPE once killed
  const verdicts: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('{')) verdicts.push(JSON.parse(line) as Record<string, unknown>);
  });
  const exited = once(child, 'exit');
  exited.catch(() => undefined);
  return {
    child,
    verdicts,
    exited,
    write: (lines) => child.stdin.write(lines.map((l) => `${l}\n`).join('')),
    end: () => child.stdin.end(),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let serial = 0;
const codes = (n: number) => Array.from({ length: n }, () => health.issueHealthCode({ subject: `p-${serial++}`, colour: 'green' }));

describe('fault: a scanner agent killed with SIGKILL', () => {
  it('keeps its spool: killed while offline and again while uploading, each offline verdict is audited exactly once', { timeout: 90_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cityops-faults-scanner-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const broker = await startAedesBroker('unused');
    cleanups.push(() => broker.stop());
    const trust = join(dir, 'trust.json');
    await writeFile(trust, JSON.stringify([health.trustEntry]));
    const args = ['--scanner', SCANNER, '--trust', trust, '--broker', broker.url, '--data', join(dir, SCANNER), '--timeout-ms', '300'];

    // 1. No verifier: the door decides offline and spools; killed mid-stream.
    const first = startScan([...args, '--connect-wait-ms', '0']);
    cleanups.push(() => first.kill());
    first.write(codes(400));
    await vi.waitFor(() => expect(first.verdicts.length).toBeGreaterThanOrEqual(100), { timeout: 30_000, interval: 5 });
    await first.kill();
    const printedBeforeKill = first.verdicts.length;
    expect(printedBeforeKill).toBeLessThan(400); // killed mid-stream
    expect(first.verdicts.every((v) => v.offline === true && v.reason === 'OK')).toBe(true);

    // 2. Restarted, still offline: 100 more, then the verifier comes; killed once uploads are landing.
    const second = startScan([...args, '--connect-wait-ms', '0']);
    cleanups.push(() => second.kill());
    second.write(codes(100));
    await vi.waitFor(() => expect(second.verdicts).toHaveLength(100), { timeout: 30_000, interval: 5 });
    expect(second.verdicts.every((v) => v.offline === true)).toBe(true);

    const warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    cleanups.push(() => warehouse.close());
    // The verifier records a scanner's events at its registered place (issue 16).
    const registry = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse });
    await registry.start();
    for (const [id, building] of [[SCANNER, 'b01'], ['door-other', 'b02']] as const) {
      await registry.add({ id, kind: 'scanner', place: { district: 'jingan', subdistrict: 'jingan-s01', grid: 'g001', building } });
    }
    await registry.stop();
    const verifier: VerifierService = createVerifierService(
      {
        http: { port: 0 },
        mqtt: { url: broker.url, clientId: 'verifier-faults' },
        trust: { source: trust, refreshMs: 3_600_000 },
        pool: { enabled: false },
        audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20 },
      },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    cleanups.push(() => verifier.stop());
    await verifier.start();
    const stored = async () => (await verifier.metrics.offlineEvents.get()).values.find((v) => v.labels.outcome === 'stored')?.value ?? 0;
    await vi.waitFor(async () => expect(await stored()).toBeGreaterThan(0), { timeout: 30_000, interval: 5 });
    await second.kill();
    const storedAtSecondKill = await stored();

    // Another door keeps being served online meanwhile.
    const other = createScannerAgent(
      {
        scannerId: 'door-other',
        dataDir: join(dir, 'door-other'),
        mqtt: { url: broker.url },
        verify: { timeoutMs: 2000 },
        reference: { trust: { source: trust } },
        spool: { fsync: 'off' },
      },
      { logger: pino({ level: 'silent' }) },
    );
    cleanups.push(() => other.stop());
    const otherOnline = new Promise<void>((resolve) => other.once('online', resolve));
    await other.start();
    await otherOnline;
    for (const qr of codes(20)) expect(await other.scan(qr)).toMatchObject({ offline: false, reason: 'OK' });

    // 3. Restarted with nothing to scan: it uploads what its spool still holds and exits.
    const third = startScan([...args, '--connect-wait-ms', '10000', '--upload-wait-ms', '30000']);
    cleanups.push(() => third.kill());
    third.end();
    const [code] = (await third.exited) as [number | null];
    expect(code).toBe(0);
    await verifier.audit!.flush();

    const [row] = await warehouse.query<{ n: number; ids: number; offline: number }>(
      'SELECT toUInt32(count()) AS n, toUInt32(uniqExact(event_id)) AS ids, toUInt32(countIf(transport = {t:String})) AS offline FROM verification_events WHERE scanner = {s:String}',
      { s: SCANNER, t: 'offline' },
    );
    // Every verdict the door printed is there; what it spooled but had not printed when killed may be too.
    expect(row!.n).toBeGreaterThanOrEqual(printedBeforeKill + 100);
    expect(row!.n).toBeLessThanOrEqual(400 + 100);
    // Exactly once by event id, all offline.
    expect(row).toEqual({ n: row!.n, ids: row!.n, offline: row!.n });
    expect(await stored()).toBe(row!.n);
    const duplicates = (await verifier.metrics.offlineEvents.get()).values.find((v) => v.labels.outcome === 'duplicate')?.value ?? 0;
    console.info(
      `scanner SIGKILL: printed ${printedBeforeKill}/400 before the first kill, ${storedAtSecondKill} stored before the second; ` +
        `${row!.n} offline events audited once each (resent and recognised: ${duplicates})`,
    );
  });
});
