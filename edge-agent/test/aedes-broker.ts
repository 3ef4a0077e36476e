import { createServer, type Socket } from 'node:net';
import { createTelemetryCodec, topics } from '@cityops/protocol';
import { Aedes, type AuthorizePublishHandler } from 'aedes';

/** A telemetry batch as the broker saw it, in arrival order. */
export interface ReceivedBatch {
  readonly boot: number;
  readonly seq: number;
  readonly readings: number;
  readonly alarm: boolean;
  readonly bytes: Buffer;
}

export interface TestBroker {
  readonly port: number;
  readonly url: string;
  /** Acknowledged telemetry, in order. */
  readonly received: ReceivedBatch[];
  /** All telemetry that arrived, acknowledged or not. */
  readonly arrived: ReceivedBatch[];
  readonly statuses: unknown[];
  /** While held, telemetry is not acknowledged (PUBACK waits); release acknowledges the backlog. */
  holdAcks(): void;
  releaseAcks(): void;
  /** QoS 1; `retain` as ingest publishes a device's configuration (default false). */
  publish(topic: string, payload: string, retain?: boolean): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An in-process Aedes 1.2 broker on `port` (0: any). Telemetry is recorded in `authorizePublish`,
 * which aedes runs before it sends the PUBACK, so an acknowledged batch is always recorded.
 */
export async function startAedesBroker(deviceId: string, port = 0): Promise<TestBroker> {
  const codec = createTelemetryCodec();
  const received: ReceivedBatch[] = [];
  const arrived: ReceivedBatch[] = [];
  const statuses: unknown[] = [];
  let held: (() => void)[] | undefined;
  const authorizePublish: AuthorizePublishHandler = (_client, packet, callback) => {
    if (packet.topic === topics.status(deviceId)) statuses.push(JSON.parse(packet.payload.toString()));
    if (packet.topic !== topics.telemetry(deviceId)) return callback(null);
    const bytes = Buffer.from(packet.payload as Buffer);
    const batch = codec.decode(bytes);
    const entry = { boot: batch.boot, seq: batch.seq, readings: batch.readings.length, alarm: batch.readings.some((r) => r.alarm === true), bytes };
    arrived.push(entry);
    const record = () => {
      received.push(entry);
      callback(null);
    };
    if (held === undefined) record();
    else held.push(record);
  };
  const broker = await Aedes.createBroker({ authorizePublish });
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  let stopped: Promise<void> | undefined;
  return {
    port: address.port,
    url: `mqtt://127.0.0.1:${address.port}`,
    received,
    arrived,
    statuses,
    holdAcks() {
      held ??= [];
    },
    releaseAcks() {
      const waiting = held ?? [];
      held = undefined;
      for (const ack of waiting) ack();
    },
    publish: (topic, payload, retain = false) =>
      new Promise((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain, dup: false }, (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
    stop() {
      stopped ??= (async () => {
        held = undefined;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
      })();
      return stopped;
    },
  };
}
