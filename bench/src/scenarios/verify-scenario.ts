import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createCodeDecoder, createDevelopmentIssuer } from '@cityops/protocol';
import { failedRequests, loadAutocannon, postEach, type AutocannonResult } from '../autocannon-load.ts';
import { BENCH_LICENCE_AUTHORITY } from '../licence-mix.ts';
import { mintCodes } from '../mint-codes.ts';
import { verifyCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario } from '../scenario.ts';
import { startVerifierProcess, verifierCounts } from '../verifier-process.ts';

const QUESTION =
  'How many verifications per second does the verifier answer over HTTP, one distinct code per POST /v1/verify ' +
  '(no cache hits) and 64 per POST /v1/verify/batch, with what p99, and how close does batch come to what the ' +
  "machine's cores can do in ES256 signature checks alone (cores x single-thread crypto.verify), measured in the same run? " +
  'One code in LICENCE_EVERY is an electronic licence (issue 23: staff certificates, venue and comprehensive licences), judged with the same guarantees.';

const SINGLE_CONNECTIONS = 64;
const BATCH_CONNECTIONS = 8;
const BATCH_ITEMS = 64;
/** Codes kept in memory at most (about 200 bytes each, plus their request buffers). */
const MAX_CODES = 200_000;
/** One code in this many is a licence (CLC1:) of a licensing authority, ES256 like the health codes. */
const LICENCE_EVERY = 4;

/**
 * Single-thread ES256 `crypto.verify` per second over the codes' own signed bytes (RFC 9052
 * Sig_structure, r||s), the KeyObject parsed once: the work a verification cannot avoid. The
 * median of 3 rounds.
 */
function es256Rate(signed: readonly { readonly toBeSigned: Uint8Array; readonly value: Uint8Array }[], publicKey: KeyObject, ms: number): number {
  const rounds: number[] = [];
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const started = performance.now();
    let now = started;
    while (now - started < ms / 3) {
      for (let i = 0; i < 64; i++) {
        const s = signed[(n + i) % signed.length]!;
        if (!cryptoVerify('sha256', s.toBeSigned, { key: publicKey, dsaEncoding: 'ieee-p1363' }, s.value)) throw new Error('a minted code does not verify');
      }
      n += 64;
      now = performance.now();
    }
    rounds.push((n / (now - started)) * 1000);
  }
  return rounds.sort((a, b) => a - b)[1]!;
}

export const verifyScenario: Scenario = {
  name: 'verify',
  question: QUESTION,
  async run({ durationS, smoke, workDir, log }) {
    const autocannon = loadAutocannon();
    const cores = availableParallelism();
    const seconds = smoke ? 0.5 : Math.max(2, Math.round(durationS));
    const issuer = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });
    const licensor = createDevelopmentIssuer({ issuer: 'sh-market-authority', kinds: ['licence'], licence: BENCH_LICENCE_AUTHORITY, trustForm: 'public-key' });
    const trustPath = join(workDir, 'trust.json');
    await writeFile(trustPath, JSON.stringify([issuer.trustEntry, licensor.trustEntry]));

    // Distinct codes for a run at 6k verifications/s per core; a verifier faster than that runs
    // out early and its run ends sooner (autocannon reports the real duration): never a code twice.
    const warmups = smoke ? 0 : 3000;
    const count = smoke ? 2000 : Math.min(MAX_CODES, Math.ceil(seconds * cores * 6000));
    log(`verify: minting ${warmups + count} distinct codes on ${cores} threads`);
    const mintStarted = performance.now();
    const all = await mintCodes(issuer, warmups + count, cores, { issuer: licensor, every: LICENCE_EVERY });
    const warm = all.slice(0, warmups);
    const codes = all.slice(warmups);
    log(`verify: minted in ${((performance.now() - mintStarted) / 1000).toFixed(1)} s`);

    // The physical limit, on the machine between the runs (when nothing of ours runs): every
    // verification needs one ES256 check.
    const decoder = createCodeDecoder();
    // Health codes only: the licences' signatures are the other key's, the same ES256 work.
    const signed = (smoke ? codes : warm).filter((qr) => qr.startsWith('CHC1:')).slice(0, 256).map((qr) => decoder.decode(qr).signature);
    const es256Ms = smoke ? 150 : 3000;
    const es256: number[] = [es256Rate(signed, issuer.publicKey, es256Ms)];
    log(`verify: ES256 ${Math.round(es256[0]!)}/s on one thread`);

    // Each run gets a fresh verifier (empty verdict cache) warmed on codes of its own; a smoke run
    // shares one between its two runs, each on its own half of the codes.
    const shared = smoke ? await startVerifierProcess(trustPath) : undefined;
    const [singleCodes, batchCodes] = smoke ? [codes.slice(0, count / 2), codes.slice(count / 2)] : [codes, codes];
    async function measure(path: string, bodies: readonly string[], connections: number) {
      const verifier = shared ?? (await startVerifierProcess(trustPath, {}, `verifier: POST ${path}`));
      try {
        // The warm-up also makes every scanner's first (scrypt) check, so the run sees the cached ones only.
        if (warm.length > 0) await postEach(autocannon, verifier.httpUrl, '/v1/verify', warm.map((qr) => JSON.stringify({ qr })), 16, 2, verifier.authorizations);
        const before = await verifierCounts(verifier.httpUrl);
        log(`verify: POST ${path}, ${connections} connections, ${seconds} s`);
        const result = await postEach(autocannon, verifier.httpUrl, path, bodies, connections, seconds, verifier.authorizations);
        const after = await verifierCounts(verifier.httpUrl);
        return { result, ok: after.ok - before.ok, verdicts: after.verdicts - before.verdicts, cacheHits: after.cacheHits - before.cacheHits };
      } finally {
        if (shared === undefined) await verifier.stop();
      }
    }

    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    let single: Awaited<ReturnType<typeof measure>>;
    let batch: Awaited<ReturnType<typeof measure>>;
    try {
      single = await measure('/v1/verify', singleCodes.map((qr) => JSON.stringify({ qr })), SINGLE_CONNECTIONS);
      es256.push(es256Rate(signed, issuer.publicKey, es256Ms));
      const bodies: string[] = [];
      for (let i = 0; i + BATCH_ITEMS <= batchCodes.length; i += BATCH_ITEMS) bodies.push(JSON.stringify({ items: batchCodes.slice(i, i + BATCH_ITEMS).map((qr) => ({ qr })) }));
      batch = await measure('/v1/verify/batch', bodies, BATCH_CONNECTIONS);
    } finally {
      await shared?.stop();
    }
    es256.push(es256Rate(signed, issuer.publicKey, es256Ms));
    log(`verify: ES256 ${es256.map((r) => Math.round(r)).join(', ')}/s on one thread (before, between, after)`);
    const cpu = process.cpuUsage(cpuBefore);
    const wall = (performance.now() - wallBefore) / 1000;

    const rate = (r: AutocannonResult, items: number) => (r['2xx'] * items) / r.duration;
    const singleRate = rate(single.result, 1);
    const batchRate = rate(batch.result, BATCH_ITEMS);
    const es256Median = [...es256].sort((a, b) => a - b)[1]!;
    const limit = cores * es256Median;
    const share = batchRate / limit;
    const failed = failedRequests;
    const cacheHits = single.cacheHits + batch.cacheHits;
    const allOk = single.ok === single.verdicts && batch.ok === batch.verdicts;
    return withCharts(verifyCharts, {
      scenario: 'verify',
      question: QUESTION,
      figures: {
        cores,
        es256_single_thread_verifications_per_second: Math.round(es256Median),
        es256_before_per_second: Math.round(es256[0]!),
        es256_between_per_second: Math.round(es256[1]!),
        es256_after_per_second: Math.round(es256[2]!),
        codes_minted: all.length,
        licence_share_of_codes: all.filter((qr) => qr.startsWith('CLC1:')).length / all.length,
        single_connections: SINGLE_CONNECTIONS,
        single_requests_per_second: Math.round(singleRate),
        single_seconds: single.result.duration,
        single_p50_ms: single.result.latency.p50,
        single_p99_ms: single.result.latency.p99,
        single_failed_requests: failed(single.result),
        single_share_of_cores_x_es256: singleRate / limit,
        batch_connections: BATCH_CONNECTIONS,
        batch_items_per_request: BATCH_ITEMS,
        batch_requests_per_second: Math.round(batch.result['2xx'] / batch.result.duration),
        batch_verifications_per_second: Math.round(batchRate),
        batch_seconds: batch.result.duration,
        batch_p99_ms: batch.result.latency.p99,
        batch_failed_requests: failed(batch.result),
        batch_share_of_cores_x_es256: share,
        verdicts_measured: single.verdicts + batch.verdicts,
        cache_hits: cacheHits,
        load_generator_cpu_seconds_per_second: (cpu.user + cpu.system) / 1e6 / wall,
      },
      targets: [
        { name: 'single verify req/s', target: '>= 15000', met: singleRate >= 15_000 },
        { name: 'single verify p99', target: '< 20 ms', met: single.result.latency.p99 < 20 },
        { name: 'batch verifications/s vs cores x single-thread ES256', target: '>= 0.8', met: share >= 0.8 },
        { name: 'distinct codes: no cache hits, every verdict OK, no failed request', target: '0 hits, all OK', met: cacheHits === 0 && allOk && failed(single.result) + failed(batch.result) === 0 },
      ],
      notes: [
        `The verifier runs as its own process (piscina pool of ${cores} threads, verdict cache on, no audit trail); autocannon runs in the bench process on the same ${cores} cores, its CPU use is listed.`,
        'Each connection sends its own slice of distinct codes once; each run starts a fresh verifier, warmed on other codes, so the cache never hits (checked in its metrics).',
        'ES256: crypto.verify over the minted codes\' Sig_structures with one cached KeyObject, on one thread of the bench process while nothing of ours runs, before, between and after the two loads; the limit is cores x their median.',
      ],
    });
  },
};
