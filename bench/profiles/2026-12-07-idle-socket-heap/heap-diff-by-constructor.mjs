// Heap growth between two snapshots by constructor, per socket: `node --max-old-space-size=4000
// heap-diff-by-constructor.mjs <dir with before/after.heapsnapshot> <sockets>` (count, bytes a socket, name).
import fs from 'node:fs';
function summ(file) {
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  const f = s.snapshot.meta.node_fields, types = s.snapshot.meta.node_types[0];
  const n = f.length, iT = f.indexOf('type'), iN = f.indexOf('name'), iS = f.indexOf('self_size');
  const m = new Map();
  for (let i = 0; i < s.nodes.length; i += n) {
    const t = types[s.nodes[i + iT]]; let name = s.strings[s.nodes[i + iN]];
    if (t !== 'object' && t !== 'closure') name = t + (t === 'string' ? '' : ':' + name.slice(0, 40)); else if (t === 'closure') name = 'closure:' + name;
    const e = m.get(name) ?? [0, 0]; e[0]++; e[1] += s.nodes[i + iS]; m.set(name, e);
  }
  return m;
}
const [dir = '.', sockets = '2000'] = process.argv.slice(2);
const a = summ(`${dir}/before.heapsnapshot`), b = summ(`${dir}/after.heapsnapshot`);
const N = Number(sockets);
const rows = [];
for (const [k, [c, sz]] of b) { const [c0, s0] = a.get(k) ?? [0, 0]; rows.push([k, c - c0, sz - s0]); }
rows.sort((x, y) => y[2] - x[2]);
let tot = 0; for (const r of rows) tot += r[2];
console.log('total diff bytes/socket', (tot / N).toFixed(0));
for (const r of rows.slice(0, 40)) console.log(String(r[1]).padStart(7), String((r[2] / N).toFixed(1)).padStart(8), r[0]);
