import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { VerifierConfigInput } from '@cityops/verifier';
import { PROFILE_ROLE_ENV, profileNodeArgs } from './profiling/profile-capture.ts';
import { scrape } from './prometheus-text.ts';

export interface VerifierProcess {
  readonly pid: number;
  readonly httpUrl: string;
  /** `Authorization: Basic …` of each provisioned scanner: the load asks as real doors do (issue 16). */
  readonly authorizations: readonly string[];
  stop(): Promise<void>;
}

/** Scanners provisioned per verifier process: one per connection of the busiest run (verify: 64). */
const SCANNERS = 64;

/**
 * The verifier as a process of its own (HTTP on a free port, verdict cache on, no audit; the piscina
 * pool as `pool` says, on every core by default), so that it and a load generator share the machine
 * as a load balancer and a service would. Scanners are provisioned in a device registry of its own
 * (embedded chDB in a temporary directory, no audit written there): requests authenticate with
 * their Basic credentials as real doors do, and each costs what it costs a scanner in production.
 */
export async function startVerifierProcess(trustPath: string, pool: NonNullable<VerifierConfigInput['pool']> = {}, role = 'verifier'): Promise<VerifierProcess> {
  // rates off: the load drives 64 doors thousands of times a second each, far past a door's rate
  // (rates.checksPerSecond); with it on nearly every request would be THROTTLED, not verified.
  const config: VerifierConfigInput = { http: { port: 0, maxBatchItems: 256 }, trust: { source: trustPath }, pool, rates: { enabled: false } };
  const registryDir = await mkdtemp(join(tmpdir(), 'cityops-bench-registry-'));
  // CommonJS (no --input-type: the pool threads inherit execArgv, and it is refused for files).
  const script = `(async () => {
    const [{ createVerifierService }, { pino }, { openWarehouse, createDeviceRegistry }] = await Promise.all([
      import(process.env.CITYOPS_VERIFIER), import(process.env.CITYOPS_PINO), import(process.env.CITYOPS_WAREHOUSE),
    ]);
    const warehouse = await openWarehouse({ backend: 'chdb', path: process.env.CITYOPS_REGISTRY_DIR });
    const registry = createDeviceRegistry({ refreshMs: 60000 }, { warehouse });
    await registry.start();
    const place = { district: 'bench', subdistrict: 'bench-s01', grid: 'g001', building: 'b01' };
    const scanners = await Promise.all(Array.from({ length: Number(process.env.CITYOPS_SCANNERS) }, (_, i) =>
      registry.add({ id: 'bench-scn-' + i, kind: 'scanner', place: { ...place, building: 'b' + i } })));
    const service = createVerifierService(JSON.parse(process.env.CITYOPS_VERIFIER_CONFIG), { registry, logger: pino({ level: 'warn' }, pino.destination(2)) });
    const addresses = await service.start();
    process.stdout.write(JSON.stringify({ ready: true, ...addresses, scanners }) + '\\n');
    const stop = () => service.stop().then(() => registry.stop()).then(() => warehouse.close()).then(() => process.exit(0), () => process.exit(1));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  })();`;
  const child = spawn(process.execPath, [...profileNodeArgs(), '--import', 'tsx', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      [PROFILE_ROLE_ENV]: role, // names it in a --profile report
      CITYOPS_VERIFIER: import.meta.resolve('@cityops/verifier'),
      CITYOPS_PINO: import.meta.resolve('pino'),
      CITYOPS_WAREHOUSE: import.meta.resolve('@cityops/warehouse'),
      CITYOPS_REGISTRY_DIR: registryDir,
      CITYOPS_SCANNERS: String(SCANNERS),
      CITYOPS_VERIFIER_CONFIG: JSON.stringify(config),
    },
  });
  let errText = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    errText = (errText + chunk).slice(-10_000);
  });
  const exited = once(child, 'exit');
  const ready = await new Promise<{ httpUrl: string; scanners: { id: string; secret: string }[] }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (line.startsWith('{"ready":true')) resolve(JSON.parse(line) as { httpUrl: string; scanners: { id: string; secret: string }[] });
    });
    exited.then(() => reject(new Error(`the verifier exited before it was ready:\n${errText}`)), reject);
  });
  return {
    pid: child.pid!,
    httpUrl: ready.httpUrl,
    authorizations: ready.scanners.map((s) => `Basic ${Buffer.from(`${s.id}:${s.secret}`).toString('base64')}`),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      await rm(registryDir, { recursive: true, force: true });
    },
  };
}

/** Verdicts (all, and OK) and cache hits, from the verifier's own metrics; a counter not yet incremented is 0. */
export async function verifierCounts(httpUrl: string): Promise<{ ok: number; verdicts: number; cacheHits: number }> {
  const text = await scrape(`${httpUrl}/metrics`);
  const labelled = (name: string, label: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) && l.includes(label))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    ok: labelled('cityops_verifier_verdicts_total', 'reason="OK"'),
    verdicts: labelled('cityops_verifier_verdicts_total', '{'),
    cacheHits: labelled('cityops_verifier_cache_lookups_total', 'result="hit"'),
  };
}
