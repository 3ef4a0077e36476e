import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '@cityops/protocol';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

// Topic filters named like members of Object.prototype, from an authenticated device. aedes keys a
// client's subscriptions by the filter from the wire; where that map is a plain object, an inherited
// name reads back as an existing subscription (GHSA-52qw-whmv-87c5, fixed in aedes 1.1.3/1.2.0). In
// aedes 2.0.0-beta.1 (cut before that fix) one UNSUBSCRIBE of "constructor" reaches
// mqemitter.removeListener with no listener and its assert throws uncaught: the whole process
// (broker, ingest, `cityops up`) dies. UNSUBSCRIBE has no authorization hook, so our ACL cannot stop
// it; only the broker's own handling can (docs/MQTT5.md).
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

function batch(seq: number): string {
  return JSON.stringify({ boot: 1, seq, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: seq }] });
}

describe('topic filters named like Object.prototype members', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('are refused or unsubscribed like any other name, and the broker keeps serving the device and its neighbours', async () => {
    const secret = await h.provision('gw-proto');
    const neighbour = await h.connect('gw-neighbour', await h.provision('gw-neighbour'));
    let seq = 0;
    for (const name of PROTOTYPE_NAMES) {
      // A fresh connection per name: a broker that closes the connection on one name must not hide another.
      const client = await h.connect('gw-proto', secret);
      // Not the device's own topics: SUBACK 0x80 (MQTT 3.1.1 §3.9.3), the connection kept.
      // (mqtt.js rejects a SUBACK whose only code is a failure, with the packet.)
      const refused = await client.subscribeAsync(name, { qos: 1 }).then(
        () => undefined,
        (err: { packet?: { granted?: unknown } }) => err.packet?.granted,
      );
      expect(refused, name).toEqual([128]);
      // Never subscribed: the UNSUBACK is still due (MQTT 3.1.1 §3.10.4 [MQTT-3.10.4-5]).
      await client.unsubscribeAsync(name);
      expect(client.connected, name).toBe(true);
      await client.publishAsync(topics.telemetry('gw-proto'), batch(++seq), { qos: 1 });
      await client.endAsync();
    }
    await neighbour.publishAsync(topics.telemetry('gw-neighbour'), batch(1), { qos: 1 });
    await vi.waitFor(async () => expect(await countByKey(h.warehouse, 'gw-proto')).toEqual({ rows: PROTOTYPE_NAMES.length, keys: PROTOTYPE_NAMES.length }), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await countByKey(h.warehouse, 'gw-neighbour')).toEqual({ rows: 1, keys: 1 }), { timeout: 10_000 });
  });
});
