// What a full verdict cache holds in V8's heap (issue 20: the verify phase's peak):
//   node --expose-gc --import tsx verifier/test/measure-verdict-cache-memory.ts [maxEntries]
// Fills the cache as the engine does on distinct codes: the key from the venue and a 380-char QR
// text, the verdict as a pool thread's answer arrives (structured-cloned: fresh strings each), the
// pseudonym as HMAC hex. Prints JSON: heap bytes per entry once full, and after as many again were
// set (every set evicting one), each after two full GCs.
import { createHmac, randomBytes } from 'node:crypto';
import { verdictKey } from '../src/identifier-hashes.ts';
import { createVerdictCache } from '../src/verdict-cache.ts';
import type { Verdict } from '../src/verdict.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const maxEntries = Number(process.argv[2] ?? 100_000);
const now = Date.now();

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function verdictFromWorker(i: number): Verdict {
  // A health code's allow verdict (judge-code.ts), as structuredClone leaves it: its own strings.
  return structuredClone({ verdict: 'allow', reason: 'OK', kind: 'health-code', issuer: 'CN-SH-HEALTH', expiresAt: now + 86_400_000 + i, colour: 'green' });
}

const before = heapAfterGc();
const cache = createVerdictCache({ maxEntries }, { onEvict: () => {} });
const set = (i: number) => {
  const qr = `HC1:${randomBytes(285).toString('base64').slice(0, 376)}`;
  const pseudonym = createHmac('sha256', 'audit-key').update(String(i)).digest('hex');
  cache.set(verdictKey('venue-0001', qr), { verdict: verdictFromWorker(i), pseudonym, generation: 1, until: now + 30_000 }, now);
};
for (let i = 0; i < maxEntries; i++) set(i);
const full = heapAfterGc();
for (let i = maxEntries; i < 2 * maxEntries; i++) set(i);
const churned = heapAfterGc();
console.log(
  JSON.stringify({
    node: process.version,
    maxEntries,
    entries: cache.size,
    bytes_per_entry_full: Math.round((full - before) / maxEntries),
    bytes_per_entry_after_churn: Math.round((churned - before) / maxEntries),
    heap_mib_full: Number(((full - before) / 2 ** 20).toFixed(1)),
  }),
);
