// What WAL preallocation does to one append's latency (write + fdatasync), beside a process that
// writes and deletes part-like files as the warehouse does: `npx tsx ingest/test/measure-wal-preallocate.ts [rounds]`.
// Alternates preallocate off/on, each round 1,500 appends of 8 KiB rolled every 100 (the writer
// seals a segment per flush), and prints p50/p90/p99/max per round. The log's directory is under
// the checkout (same filesystem as a data directory), not /tmp (may be tmpfs).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { WalBatchRecord } from '../src/wal/wal-record.ts';
import { createWriteAheadLog } from '../src/wal/write-ahead-log.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const rounds = Number(process.argv[2] ?? 3);
const base = await mkdtemp(join(ROOT, '.wal-measure-'));
const CHURN = `
const { mkdirSync, writeFileSync, rmSync } = require('node:fs');
const dir = process.argv[1]; const buf = Buffer.alloc(256 * 1024, 1);
for (let i = 0; ; i++) {
  const p = dir + '/part-' + i; mkdirSync(p, { recursive: true });
  for (let f = 0; f < 6; f++) writeFileSync(p + '/col' + f + '.bin', buf);
  if (i >= 20) rmSync(dir + '/part-' + (i - 20), { recursive: true, force: true });
}`;
const churn = spawn(process.execPath, ['-e', CHURN, join(base, 'churn')], { stdio: 'ignore' });
const record = (seq: number): WalBatchRecord => ({ kind: 'batch', receivedAt: Date.now(), device: 'gw-1', place: 'p/s/g', boot: 1, seq, payload: Buffer.alloc(8192, seq % 251) });
try {
  for (let r = 0; r < rounds; r++) {
    for (const preallocate of [false, true]) {
      const dir = join(base, `wal-${r}-${preallocate}`);
      const wal = createWriteAheadLog({ dir, segmentBytes: 64 << 20, fsync: true, retainSegments: 1, maxRecordBytes: 1 << 20, preallocate });
      await wal.open();
      const ms: number[] = [];
      for (let i = 1; i <= 1500; i++) {
        const t = performance.now();
        await wal.append(record(i), () => undefined);
        ms.push(performance.now() - t);
        if (i % 100 === 0) await wal.checkpoint((await wal.roll(() => undefined)).sealed);
      }
      await wal.close();
      ms.sort((a, b) => a - b);
      const q = (p: number) => ms[Math.floor(p * (ms.length - 1))]!.toFixed(2);
      console.log(`round ${r + 1} preallocate ${String(preallocate).padEnd(5)}: append ms p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${q(1)}`);
    }
  }
} finally {
  churn.kill();
  await rm(base, { recursive: true, force: true });
}
