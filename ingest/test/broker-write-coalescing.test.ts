import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@cityops/protocol';
import { startHarness, type Harness } from './ingest-harness.ts';

/** Counts the broker-side socket's _write/_writev calls (each one writev/write syscall batch). */
function countSends(conn: Socket): { calls: number } {
  const counter = { calls: 0 };
  const socket = conn as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = socket._write.bind(conn);
  const writev = socket._writev.bind(conn);
  socket._write = (...a) => {
    counter.calls++;
    write(...a);
  };
  socket._writev = (...a) => {
    counter.calls++;
    writev(...a);
  };
  return counter;
}

describe('broker write coalescing (issue 20: relay latency)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('QoS 1 messages routed to a subscriber in one turn leave the broker in one write, each delivered once', async () => {
    const verifier = await h.connect('verifier-1', await h.provision('verifier-1', 'service'));
    await verifier.subscribeAsync(topics.allOf('verify-req'), { qos: 1 });
    // aedes keeps its clients by id (not in its typings).
    const { clients } = h.service.broker.aedes() as unknown as { clients: Record<string, { conn: Socket }> };
    const conn = clients['verifier-1']!.conn;
    const sends = countSends(conn);
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      verifier.on('message', (_topic, payload) => {
        got.push(payload.toString());
        if (got.length === 3) resolve();
      }),
    );
    // aedes delivers each routed QoS 1 message in a setImmediate of its own: three in one turn.
    await Promise.all(['a', 'b', 'c'].map((id) => h.service.broker.publish(topics.verifyRequest('scanner-1'), Buffer.from(id), { qos: 1, retain: false })));
    await all;
    expect(got.sort()).toEqual(['a', 'b', 'c']);
    // Without coalescing: one writev per packet (3). mqtt-packet corks only until the next tick.
    expect(sends.calls).toBe(1);
  });

  it('a scanner\'s QoS 1 requests still reach the subscription and are acknowledged', async () => {
    const verifier = await h.connect('verifier-2', await h.provision('verifier-2', 'service'));
    await verifier.subscribeAsync(topics.allOf('verify-req'), { qos: 1 });
    const scanner = await h.connect('scanner-2', await h.provision('scanner-2', 'scanner'));
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      verifier.on('message', (topic, payload) => {
        if (topic !== topics.verifyRequest('scanner-2')) return;
        got.push(payload.toString());
        if (got.length === 50) resolve();
      }),
    );
    const ids = Array.from({ length: 50 }, (_, i) => `r${i}`);
    // publishAsync resolves on the PUBACK (MQTT 3.1.1 §4.3.2).
    await Promise.all(ids.map((id) => scanner.publishAsync(topics.verifyRequest('scanner-2'), id, { qos: 1 })));
    await all;
    // One publisher, one subscription: MQTT 3.1.1 §4.6 keeps them in order.
    expect(got).toEqual(ids);
  });
});
