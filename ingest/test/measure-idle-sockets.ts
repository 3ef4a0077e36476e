// What idle sockets before CONNECT cost the broker: `node --expose-gc --import tsx ingest/test/measure-idle-sockets.ts [sockets] [addresses] [churnSeconds]`.
// 1. Held: `sockets` connections that never send a byte (from `addresses` loopback aliases, as the
//    hostile bench's "idle sockets, many addresses"), the CONNECT deadline out of the way: heap,
//    external and RSS after a full GC, per socket.
// 2. Churned: the shipped 5 s CONNECT deadline, each cut socket reopened at once (the bench's
//    attacker) for `churnSeconds`: the RSS high-water (sampled every 100 ms, no forced GC) and the
//    heap after a full GC at the end against the start: garbage awaiting V8's next major GC, or kept.
// The client sockets live in a child process, so the figures are the broker's alone. With
// HEAP_SNAPSHOTS=<dir>, the held phase also writes before.heapsnapshot and after.heapsnapshot there
// (bench/profiles/2026-12-07-idle-socket-heap/heap-diff-by-constructor.mjs compares them).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import { startHarness } from './ingest-harness.ts';

const sockets = Number(process.argv[2] ?? 2000);
const addresses = Number(process.argv[3] ?? 64);
const churnSeconds = Number(process.argv[4] ?? 30);

if (process.env.IDLE_CLIENT_PORT !== undefined) {
  // The child: keeps `sockets` open (reopening each one the broker closes) until told to stop.
  const { connect } = await import('node:net');
  const port = Number(process.env.IDLE_CLIENT_PORT);
  let connected = 0;
  let stopping = false;
  const open = (i: number) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: `127.0.9.${(i % addresses) + 1}` });
    s.on('error', () => undefined);
    s.once('connect', () => {
      if (++connected === sockets) process.send!('held');
    });
    s.once('close', () => {
      if (!stopping) open(i);
    });
  };
  for (let i = 0; i < sockets; i++) open(i);
  process.on('message', () => {
    stopping = true;
    process.exit(0);
  });
} else {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const sample = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await settle(200);
    }
    const m = process.memoryUsage();
    return { heap: m.heapUsed, external: m.external + m.arrayBuffers, rss: m.rss };
  };
  const mib = (bytes: number) => `${bytes >= 0 ? '+' : '−'}${(Math.abs(bytes) / 2 ** 20).toFixed(1)} MiB`;

  async function run(connectTimeoutMs: number, body: (h: Awaited<ReturnType<typeof startHarness>>) => Promise<void>) {
    const h = await startHarness({ mqtt: { port: 0, wire: { connectTimeoutMs, maxConnectionsPerAddress: 1_000_000, maxUnauthenticated: 1_000_000 } } });
    try {
      await body(h);
    } finally {
      await h.close();
    }
  }
  async function openAll(port: number) {
    const child = fork(fileURLToPath(import.meta.url), [String(sockets), String(addresses)], { env: { ...process.env, IDLE_CLIENT_PORT: String(port) } });
    await once(child, 'message');
    return child;
  }

  await run(600_000, async (h) => {
    const port = Number(new URL(h.addresses.mqttUrl).port);
    const before = await sample();
    const snapshots = process.env.HEAP_SNAPSHOTS;
    if (snapshots !== undefined) writeHeapSnapshot(join(snapshots, 'before.heapsnapshot'));
    const child = await openAll(port);
    // Until the broker has accepted every one (a SYN beyond the listen backlog is retried after 1 s).
    const gauge = async () => Number(/cityops_broker_unauthenticated_sockets (\d+)/.exec(await h.service.metrics.registry.metrics())?.[1] ?? 0);
    while ((await gauge()) < sockets) await settle(50);
    const held = await sample();
    if (snapshots !== undefined) writeHeapSnapshot(join(snapshots, 'after.heapsnapshot'));
    const per = (k: keyof typeof held) => `${((held[k] - before[k]) / sockets / 1024).toFixed(2)} KiB`;
    console.log(`held: ${sockets} idle sockets from ${addresses} addresses: heap ${per('heap')}, external ${per('external')}, RSS ${per('rss')} a socket (RSS ${mib(held.rss - before.rss)})`);
    child.send('stop');
    await once(child, 'exit');
  });

  await run(5000, async (h) => {
    const port = Number(new URL(h.addresses.mqttUrl).port);
    const before = await sample();
    const child = await openAll(port);
    let peak = 0;
    const until = Date.now() + churnSeconds * 1000;
    while (Date.now() < until) {
      peak = Math.max(peak, process.memoryUsage().rss);
      await settle(100);
    }
    const cut = Number(/cityops_broker_refused_sockets_total\{reason="connect_timeout"\} (\d+)/.exec(await h.service.metrics.registry.metrics())?.[1] ?? 0);
    child.send('stop');
    await once(child, 'exit');
    const after = await sample();
    console.log(
      `churned ${churnSeconds} s (5 s deadline, ${cut} sockets cut and reopened): RSS high-water ${mib(peak - before.rss)}; ` +
        `after the sockets closed and a full GC: heap ${mib(after.heap - before.heap)}, RSS ${mib(after.rss - before.rss)}`,
    );
  });
}
