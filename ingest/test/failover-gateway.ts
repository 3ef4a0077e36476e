import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '@cityops/protocol';

export interface FailoverGatewayOptions {
  readonly id: string;
  /** Instance name -> this device's secret there (each test instance has its own registry). */
  readonly secrets: Readonly<Record<string, string>>;
  /** The instance's MQTT URL now, undefined while it is down. */
  readonly urlOf: (instance: string) => string | undefined;
  /** The payload of batch `seq`: the same bytes however often it is resent. */
  readonly batch: (seq: number) => Buffer;
  readonly batchesPerSecond: number;
  readonly maxInFlight: number;
  readonly pick: (alive: readonly string[]) => string;
  readonly onAck: (instance: string, seq: number) => void;
}

export interface FailoverGateway {
  start(): void;
  /** Drops the connection (as a network would, PUBACKs in flight lost) and reconnects to `instance`. */
  moveTo(instance: string): void;
  /** No new batches; what is unacknowledged is still resent until acknowledged. */
  stopSending(): void;
  readonly acked: ReadonlySet<number>;
  unacknowledged(): number;
  /** Batches made so far (seq 1..sent). */
  sent(): number;
  connectedTo(): string | undefined;
  /** One line for a failure message: where it is and what it waits for. */
  describe(): string;
  stop(): Promise<void>;
}

/**
 * A gateway as far as delivery goes, in the test process: QoS 1 batches with a fixed
 * `(boot 1, seq)`, each kept until its PUBACK and resent, first, on every new connection; on a
 * dropped connection it reconnects to an instance that is up (backing off while refused), as a
 * gateway behind a load balancer would. Its pacing and backoff timers are the device's behaviour.
 */
export function createFailoverGateway(options: FailoverGatewayOptions): FailoverGateway {
  const acked = new Set<number>();
  const pending = new Map<number, Buffer>();
  let inFlight = new Set<number>();
  let client: MqttClient | undefined;
  let instance: string | undefined;
  let nextSeq = 1;
  let credit = 0;
  let sending = true;
  let stopped = false;
  let attempts = 0;
  let preferred: string | undefined;
  let retry: NodeJS.Timeout | undefined;
  const pacer = setInterval(() => {
    credit = Math.min(credit + options.batchesPerSecond / 10, options.batchesPerSecond);
    pump();
  }, 100);
  pacer.unref();

  function connect(): void {
    retry = undefined;
    if (stopped) return;
    const alive = Object.keys(options.secrets).filter((name) => options.urlOf(name) !== undefined);
    const target = preferred !== undefined && alive.includes(preferred) ? preferred : alive.length > 0 ? options.pick(alive) : undefined;
    preferred = undefined;
    const url = target === undefined ? undefined : options.urlOf(target);
    if (target === undefined || url === undefined) return schedule();
    const c = mqtt.connect(url, { clientId: options.id, username: options.id, password: options.secrets[target], protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    client = c;
    instance = target;
    inFlight = new Set();
    c.on('error', () => undefined);
    c.on('connect', () => pump());
    c.on('close', () => {
      if (client !== c) return;
      client = undefined;
      instance = undefined;
      c.end(true);
      schedule();
    });
  }

  function schedule(): void {
    if (stopped || retry !== undefined) return;
    attempts++;
    retry = setTimeout(connect, Math.min(25 * 2 ** Math.min(attempts, 5), 500));
  }

  function pump(): void {
    const c = client;
    const at = instance;
    if (c === undefined || at === undefined || !c.connected) return;
    while (inFlight.size < options.maxInFlight) {
      let seq = [...pending.keys()].find((s) => !inFlight.has(s));
      if (seq === undefined) {
        if (!sending || credit < 1) return;
        credit--;
        seq = nextSeq++;
        pending.set(seq, options.batch(seq));
      }
      const s = seq;
      inFlight.add(s);
      c.publish(topics.telemetry(options.id), pending.get(s)!, { qos: 1 }, (err) => {
        if (client === c) inFlight.delete(s);
        // Refused: the connection is closing, the batch waits for the next one ('close' reconnects).
        if (err !== undefined && err !== null) return;
        // A PUBACK from a connection since dropped is still an acknowledgement.
        if (pending.delete(s)) {
          acked.add(s);
          attempts = 0;
          options.onAck(at, s);
        }
        if (client === c) pump();
      });
    }
  }

  return {
    start: connect,
    moveTo(target) {
      preferred = target;
      const c = client;
      if (c === undefined) return;
      client = undefined;
      instance = undefined;
      c.end(true);
      if (retry !== undefined) clearTimeout(retry);
      retry = undefined;
      connect();
    },
    stopSending() {
      sending = false;
    },
    acked,
    unacknowledged: () => pending.size,
    sent: () => nextSeq - 1,
    connectedTo: () => (client?.connected === true ? instance : undefined),
    describe: () =>
      `${options.id}: ${client?.connected === true ? `on ${String(instance)}` : instance === undefined ? 'between connections' : `connecting to ${instance}`}, ` +
      `${inFlight.size} in flight, ${pending.size} unacknowledged, ${acked.size} of ${nextSeq - 1} acknowledged, ${attempts} attempts since the last PUBACK`,
    async stop() {
      stopped = true;
      clearInterval(pacer);
      if (retry !== undefined) clearTimeout(retry);
      await client?.endAsync(true);
    },
  };
}
