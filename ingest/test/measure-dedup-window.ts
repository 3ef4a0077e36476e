// The dedup window's cost per batch once full: `npx tsx ingest/test/measure-dedup-window.ts [capacity]`.
// Prints µs per remember() over 400,000 keys past a full window, and how many took over 2 ms (a
// rebuild of the hash table, or the old window's walk over deleted entries).
import { performance } from 'node:perf_hooks';
import { createDedupWindow } from '../src/dedup-window.ts';

const capacity = Number(process.argv[2] ?? 200_000);
const window = createDedupWindow(capacity);
let seq = 0;
for (; seq < 2 * capacity; seq++) window.remember('gw-0001', 1, seq);
const n = 400_000;
const slow: number[] = [];
const t0 = performance.now();
for (let i = 0; i < n; i++, seq++) {
  const t = performance.now();
  window.remember(`gw-${String(seq % 64).padStart(4, '0')}`, 1, seq);
  const ms = performance.now() - t;
  if (ms > 2) slow.push(ms);
}
const perOpUs = ((performance.now() - t0) * 1000) / n;
console.log(`capacity ${capacity}: ${perOpUs.toFixed(2)} µs a remember() past a full window; ${slow.length} over 2 ms (max ${Math.max(0, ...slow).toFixed(1)} ms)`);
