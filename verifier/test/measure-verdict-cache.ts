// The verdict cache's cost per lookup on distinct codes (issue 20, cut 3):
//   npx tsx verifier/test/measure-verdict-cache.ts [maxEntries]
// Each operation is what the engine does per request: the key (venue + SHA-256 of a 380-char QR
// text), a lookup that misses and the set of the new verdict. Measured while the cache fills, once
// it is full (every set evicts the least recently used), and with entries expiring as new ones come
// (every set drops a dead one). Prints JSON: µs per operation (median of 3 rounds of 200,000 codes)
// and operations over 2 ms (a rebuild of the Map's table, or a walk over deleted entries).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createVerdictCache } from '../src/verdict-cache.ts';
import { qrDigest } from '../src/identifier-hashes.ts';

const maxEntries = Number(process.argv[2] ?? 100_000);
const n = 200_000;
// JSON.parse, as the HTTP route gets them: flat strings whose hash V8 has not computed yet.
const codes = JSON.parse(JSON.stringify(Array.from({ length: 3 * n }, () => `HC1:${randomBytes(285).toString('base64').slice(0, 376)}`))) as string[];
const verdict = { verdict: 'allow', reason: 'OK', kind: 'health-code' } as const;

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** The key's SHA-256 alone, to set apart from the cache's own work. */
function digestUs(): number {
  const rounds = [0, 1, 2].map((r) => {
    const t = performance.now();
    for (let i = r * n; i < (r + 1) * n; i++) qrDigest(codes[i]!);
    return ((performance.now() - t) * 1000) / n;
  });
  return median(rounds);
}

function lookups(phase: 'filling' | 'full' | 'expiring'): { us: number; over2ms: number } {
  const rounds: number[] = [];
  let over2ms = 0;
  for (let r = 0; r < 3; r++) {
    const cache = createVerdictCache({ maxEntries }, { onEvict: () => {} });
    let now = 0;
    // 'expiring': ~maxEntries / 2 live, so every set drops one dead entry and none is evicted.
    const ttl = phase === 'expiring' ? maxEntries / 2 : 1e12;
    const op = (qr: string) => {
      now += 1;
      const key = `venue-1\n${qrDigest(qr)}`;
      if (cache.get(key, 1, now) === undefined) cache.set(key, { verdict, pseudonym: 'p', generation: 1, until: now + ttl }, now);
    };
    const from = phase === 'filling' ? 0 : maxEntries;
    for (let i = 0; i < from; i++) op(codes[(i + r * n) % codes.length]!);
    const count = phase === 'filling' ? Math.min(n, maxEntries) : n;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      op(codes[(from + i + r * n) % codes.length]!);
      if (performance.now() - t > 2) over2ms++;
    }
    rounds.push(((performance.now() - t0) * 1000) / count);
  }
  return { us: median(rounds), over2ms };
}

console.log(
  JSON.stringify(
    {
      node: process.version,
      maxEntries,
      qr_digest_us: digestUs(),
      lookup_and_set_us: { filling: lookups('filling'), full: lookups('full'), expiring: lookups('expiring') },
    },
    null,
    1,
  ),
);
