/**
 * Verifications per second on this machine, in one run, beside the physical peer:
 *   node --import tsx verifier/test/measure-verify-rates.ts [--seconds 2] [--threads N]
 * - bare ES256 crypto.verify with a cached KeyObject, one thread (the per-core limit);
 * - the verifier's core on the main thread (decode + trust lookup + signature + judgement);
 * - the piscina pool behind the micro-batcher at batch sizes 1, 16, 64, 256 (all items in flight).
 * Codes are distinct (no cache). Prints one JSON document. The HTTP bench (autocannon) lives in bench/.
 */
import { execSync } from 'node:child_process';
import { sign, verify } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createCodeDecoder, createDevelopmentIssuer } from '@cityops/protocol';
import { authenticateCode } from '../src/authenticate-code.ts';
import { buildRevocationSnapshot } from '../src/revocation-list.ts';
import { buildStatusSnapshot } from '../src/status-feed.ts';
import { parseTrustList } from '../src/trust-list.ts';
import { buildPolicySnapshot } from '../src/venue-policies.ts';
import { verifyCode } from '../src/verify-code.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';
import { createVerifyPool } from '../src/verify-pool.ts';
import { dccVaccination } from './code-fixtures.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const seconds = arg('--seconds', 2);
const threads = arg('--threads', availableParallelism());
const DISTINCT = 20_000;
const KEY = 'measure-pseudonym-key-0123456789abcdef';

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/** CPU time of the whole process (every thread), µs. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Median of three rounds of `seconds` each, after a warm-up: per second, and CPU µs per operation. */
function measure(work: (i: number) => void): { perSecond: number; cpuMicrosPerOp: number } {
  for (let i = 0; i < 500; i++) work(i);
  const rounds = [0, 1, 2].map(() => {
    let n = 0;
    const cpu = cpuMicros();
    const start = performance.now();
    const end = start + seconds * 1000;
    let now = start;
    while (now < end) {
      for (let k = 0; k < 100; k++) work(n++);
      now = performance.now();
    }
    return { perSecond: n / ((now - start) / 1000), cpuMicrosPerOp: (cpuMicros() - cpu) / n };
  });
  return { perSecond: Math.round(median(rounds.map((r) => r.perSecond))), cpuMicrosPerOp: round1(median(rounds.map((r) => r.cpuMicrosPerOp))) };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
const dcc = createDevelopmentIssuer({ issuer: 'XA', kinds: ['eu-dcc'] });
const trust = parseTrustList([health.trustEntry, dcc.trustEntry], 1);
const context = {
  generation: 1,
  trust,
  revocation: buildRevocationSnapshot({}, 0, 1e-6),
  status: buildStatusSnapshot([], 0),
  policies: buildPolicySnapshot({}, 0),
  freshness: {},
};
const codes = {
  'health-code': Array.from({ length: DISTINCT }, (_, i) => health.issueHealthCode({ subject: `p-${i}`, colour: 'green' })),
  'eu-dcc': Array.from({ length: DISTINCT / 4 }, (_, i) => dcc.issueDcc({ payload: { ...dccVaccination(), dob: `19${10 + (i % 89)}-01-0${1 + (i % 9)}` } })),
};

// The peer: bare ES256 verify, cached KeyObject, distinct messages.
const messages = Array.from({ length: 2000 }, (_, i) => Buffer.from(`message ${i} ${'x'.repeat(150)}`));
const signatures = messages.map((m) => sign('sha256', m, { key: health.privateKey, dsaEncoding: 'ieee-p1363' }));
const bareEs256 = measure((i) => {
  const k = i % messages.length;
  if (!verify('sha256', messages[k]!, { key: health.publicKey, dsaEncoding: 'ieee-p1363' }, signatures[k]!)) throw new Error('bad');
});

const decoder = createCodeDecoder();
const mainThread: Record<string, { decode: ReturnType<typeof measure>; verify: ReturnType<typeof measure> }> = {};
for (const [kind, list] of Object.entries(codes)) {
  mainThread[kind] = {
    decode: measure((i) => decoder.decode(list[i % list.length]!)),
    verify: measure((i) => {
      const { verdict } = verifyCode(list[i % list.length]!, context, decoder, { now: Date.now(), clockSkewMs: 30_000, staleAction: 'warn', pseudonymKey: KEY });
      if (verdict.reason !== 'OK') throw new Error(verdict.reason);
    }),
  };
}
// Sanity: the CPU half alone, as workers run it.
const authenticate = measure((i) => authenticateCode(codes['health-code'][i % DISTINCT]!, trust, decoder, KEY));

async function poolRate(kind: keyof typeof codes, batchMaxItems: number): Promise<{ perSecond: number; cpuMicrosPerOp: number }> {
  const list = codes[kind];
  const pool = createVerifyPool(
    { threads, maxQueue: 1_000_000, batchMaxItems, batchMaxDelayMs: 1, concurrentTasksPerWorker: 2, decoder: { maxQrChars: 4296, maxInflatedBytes: 65536 }, pseudonymKey: KEY },
    { metrics: createVerifierMetrics() },
  );
  await pool.start();
  try {
    await Promise.all(list.slice(0, 2000).map((qr) => pool.authenticate(qr, trust)));
    const rounds: { perSecond: number; cpuMicrosPerOp: number }[] = [];
    for (let r = 0; r < 3; r++) {
      const cpu = cpuMicros();
      const start = performance.now();
      let done = 0;
      while (performance.now() - start < seconds * 1000) {
        const results = await Promise.all(list.map((qr) => pool.authenticate(qr, trust)));
        if (results.some((x) => !x.ok)) throw new Error('a code did not authenticate');
        done += list.length;
      }
      rounds.push({ perSecond: done / ((performance.now() - start) / 1000), cpuMicrosPerOp: (cpuMicros() - cpu) / done });
    }
    return { perSecond: Math.round(median(rounds.map((x) => x.perSecond))), cpuMicrosPerOp: round1(median(rounds.map((x) => x.cpuMicrosPerOp))) };
  } finally {
    await pool.stop();
  }
}

// Other work on the machine moves every rate: each pool figure is paired with a bare ES256 rate
// measured just before it. CPU µs per item (all threads of the process) moves much less: bare CPU
// per verify / pool CPU per item is the share of the cores that goes to signatures, i.e. what
// fraction of (threads × bare rate) the pool can reach on an idle machine.
const pool: Record<string, Record<string, object>> = { 'health-code': {}, 'eu-dcc': {} };
for (const kind of ['health-code', 'eu-dcc'] as const) {
  for (const batch of [1, 16, 64, 256]) {
    const bareJustBefore = measure((i) => {
      const k = i % messages.length;
      verify('sha256', messages[k]!, { key: health.publicKey, dsaEncoding: 'ieee-p1363' }, signatures[k]!);
    });
    const result = await poolRate(kind, batch);
    pool[kind]![`batch${batch}`] = {
      ...result,
      barePerSecondJustBefore: bareJustBefore.perSecond,
      rateOfThreadsTimesBare: Number((result.perSecond / (threads * bareJustBefore.perSecond)).toFixed(2)),
      cpuEfficiency: Number((bareJustBefore.cpuMicrosPerOp / result.cpuMicrosPerOp).toFixed(2)),
    };
  }
}

let sha = 'unknown';
try {
  sha = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
console.log(
  JSON.stringify(
    {
      git: sha,
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: availableParallelism(),
      poolThreads: threads,
      seconds,
      bareEs256Verify: bareEs256,
      mainThread,
      authenticateHealthCode: authenticate,
      poolAuthenticate: pool,
      loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
    },
    null,
    2,
  ),
);
