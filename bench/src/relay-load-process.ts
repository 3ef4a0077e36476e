import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '@cityops/protocol';
import { PUBACK_SLOT_MS } from './acked-publisher.ts';
import { createCreditPacer } from './credit-pacer.ts';
import { createLatencyHistogram } from './latency-histogram.ts';
import type { RelayLoadCommand, RelayLoadConfig, RelayLoadMessage, RelayLoadStats } from './relay-load-messages.ts';
import { relayQrText, relayRequest } from './relay-request.ts';

// The relay bench's publishers (scanners sending verify requests, QoS 1) as their own process, forked
// by the broker scenario: the same process, client ids, topics and payload sizes against every broker.
const config = JSON.parse(process.argv[2] ?? '{}') as RelayLoadConfig;
const send = (message: RelayLoadMessage) => process.send?.(message);
const qr = relayQrText(config.qrChars);
const clients: MqttClient[] = [];
const seqs = new Array<number>(config.clients.length).fill(0);
const puback = createLatencyHistogram(60_000, PUBACK_SLOT_MS);
let published = 0;
let acked = 0;
let errors = 0;

function stats(): RelayLoadStats {
  return { published, acked, errors, puback: { count: puback.count, p50: puback.quantile(0.5), p99: puback.quantile(0.99), max: puback.max } };
}

// A tenth of a second of the rate at most after a stall: saturation is measured by the windows, not by bursts.
const pacer = createCreditPacer({ clients: config.clients.length, inflight: config.inflight, burstSeconds: 0.1 }, (index) => {
  const id = config.clients[index]!.id;
  published++;
  const started = performance.now();
  clients[index]!.publish(topics.verifyRequest(id), relayRequest(id, ++seqs[index]!, qr), { qos: 1 }, (err) => {
    pacer.done(index);
    if (err !== undefined && err !== null) errors++;
    else {
      acked++;
      puback.record(performance.now() - started);
    }
  });
});

process.on('message', (raw) => {
  const command = raw as RelayLoadCommand;
  if (command.type === 'rate') {
    pacer.setRate(command.messagesPerSecond);
    puback.reset();
  } else if (command.type === 'stats') {
    send({ type: 'stats', stats: stats() });
    puback.reset();
  }
  else if (command.type === 'stop') {
    clearInterval(timer);
    Promise.all(clients.map((c) => c.endAsync())).then(
      () => {
        send({ type: 'stopped', stats: stats() });
        process.disconnect?.();
      },
      (err: unknown) => send({ type: 'error', message: String(err) }),
    );
  }
});

await Promise.all(
  config.clients.map(
    (c, i) =>
      new Promise<void>((resolve) => {
        // Reconnecting, as acked-publisher.ts does: a busy broker may close a socket before its CONNACK
        // (its accept gate) or time one out; the connection is retried, and the error counted.
        const client = mqtt.connect(config.brokerUrl, { clientId: c.id, username: c.id, password: c.secret, protocolVersion: 4, reconnectPeriod: 1000, connectTimeout: 30_000 });
        clients[i] = client;
        client.once('connect', () => resolve());
        client.on('error', () => errors++);
      }),
  ),
);
// Refilled every 5 ms: at saturation the windows are topped up as PUBACKs return.
const timer = setInterval(() => pacer.tick(), 5);
send({ type: 'ready' });
