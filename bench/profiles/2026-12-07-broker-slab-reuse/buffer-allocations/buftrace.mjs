import { writeFileSync } from 'node:fs';
const tally = new Map();
let total = 0;
function note(n, fn) {
  if (n < 1024) return;
  total += n;
  const stack = new Error().stack.split('\n').slice(3, 7).map((l) => l.trim().replace(/\(file:\/\/\/[^)]*\/(\w+\/src\/)/, '($1').replace(/\(.*node_modules\//, '(')).join(' < ');
  const key = `${fn} ${stack}`;
  const t = tally.get(key) ?? { n: 0, bytes: 0 };
  t.n++; t.bytes += n;
  tally.set(key, t);
}
for (const fn of ['alloc', 'allocUnsafe', 'allocUnsafeSlow']) {
  const orig = Buffer[fn];
  Buffer[fn] = function (size, ...rest) { note(size, fn); return orig.call(this, size, ...rest); };
}
const concat = Buffer.concat;
Buffer.concat = function (list, len) { const r = concat.call(this, list, len); note(r.length, 'concat'); return r; };
const from = Buffer.from;
Buffer.from = function (a, b, c) { const r = from.call(this, a, b, c); if (!(a instanceof ArrayBuffer)) note(r.length, 'from'); return r; };
const t0 = Date.now();
process.on('SIGUSR2', () => {
  const rows = [...tally].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 25);
  const s = (Date.now() - t0) / 1000;
  writeFileSync(`/tmp/buftrace/out-${process.pid}.txt`, `${s}s total ${(total / 2 ** 20).toFixed(1)} MiB\n` + rows.map(([k, v]) => `${(v.bytes / 2 ** 20 / s).toFixed(3)} MiB/s ${v.n} ${k}`).join('\n') + '\n');
});
