import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type PeerCertificate } from 'node:tls';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { isCityopsError, parseTopic, referenceKindOf, topics, type AddressGuard, type DeviceErrorReport, type ParsedTopic } from '@cityops/protocol';
import type { DeviceInfo, DeviceRegistry } from '@cityops/warehouse';
import { ingestErrors } from './errors.ts';
import type { IngestMetrics } from './ingest-metrics.ts';
import { mayPublish, maySubscribe } from './topic-acl.ts';
import type { TelemetryPipeline } from './telemetry-pipeline.ts';
import type { WireGuard } from './mqtt-wire-guard.ts';
import { coalesceWrites } from './write-coalescer.ts';

export interface MqttBrokerConfig {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** false: no plain listener, MQTT over TLS only (`tls` required). Default true. */
  readonly plain?: boolean;
  readonly tls?: {
    readonly host: string;
    readonly port: number;
    readonly key: string;
    readonly cert: string;
    readonly ca?: string;
    /** Device certificates signed by `ca`, their CN bound to the device id. Default off. */
    readonly clientCert?: 'off' | 'optional' | 'required';
  };
  /** A socket without a whole CONNECT after this long is closed (slowloris). Default aedes' 30 s. */
  readonly wire?: { readonly connectTimeoutMs: number };
  /** What a connection's packets of one turn may hold back before they are sent together (write-coalescer.ts; 0: off). Default 64 KiB. */
  readonly writeCoalesceBytes?: number;
}

/** Routing and persistence shared with other instances through Redis (see cluster-routing.ts). */
export interface MqttBrokerCluster {
  mq(): unknown;
  persistence(): unknown;
  /** While false, connections, publishes and subscriptions are refused (fail closed). */
  available(): boolean;
  readonly heartbeatIntervalMs: number;
}

export interface MqttBrokerDeps {
  readonly registry: DeviceRegistry;
  readonly pipeline: TelemetryPipeline;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  /** Absent: a single instance with aedes' in-memory routing and persistence. */
  readonly cluster?: MqttBrokerCluster;
  /** Per-address connection rate and failed-login lockout; absent: no limits. */
  readonly guard?: AddressGuard;
  /** Socket caps at accept and packet sizes at the wire; absent: none. */
  readonly wire?: WireGuard;
  /** Records a gateway's config-state report (issue 18); absent: not recorded. */
  readonly recordConfigReport?: (device: string, payload: Buffer) => Promise<void>;
}

export interface MqttBroker {
  /** The listeners' ports: `port` absent when plain MQTT is off, `tlsPort` when TLS is not configured. */
  start(): Promise<{ port?: number; tlsPort?: number }>;
  stop(): Promise<void>;
  /**
   * Publishes from the broker itself (no ACL: ingest speaks for itself): telemetry accepted over
   * HTTP forwarded to subscribers, pipeline status. Resolves once routed; a no-op when not started.
   */
  publish(topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  readonly aedes: () => Aedes;
}

const TELEMETRY_PREFIX = topics.telemetry('');
const WITHHELD = Buffer.alloc(0);

// MQTT 3.1.1 §3.2.2.3 CONNACK return codes.
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function authError(returnCode: number, message: string): AuthenticateError {
  const err: AuthenticateError = Object.assign(new Error(message), { returnCode });
  return err;
}

/**
 * Why a TLS client's certificate does not let it log in as `device`, or undefined when it may (no
 * certificate, or a verified one naming `device`). Plain connections have none to check.
 */
function certificateProblem(conn: unknown, device: string): string | undefined {
  if (!(conn instanceof TLSSocket)) return undefined;
  const cert = conn.getPeerCertificate() as PeerCertificate | null;
  // An empty object when the client sent none (allowed with clientCert: optional); null once closed.
  if (cert === null || Object.keys(cert).length === 0) return undefined;
  if (!conn.authorized) return `client certificate not trusted (${String(conn.authorizationError)})`;
  const cn = cert.subject.CN;
  if (cn !== device) return `client certificate names ${JSON.stringify(cn)}, not ${device}`;
  return undefined;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server?.listening === true ? server.close(() => resolve()) : resolve()));
}

/**
 * The Aedes broker with device authentication and topic ACLs. Telemetry is made durable inside
 * `authorizePublish`, the only hook aedes runs before it writes the QoS 1 PUBACK.
 */
export function createMqttBroker(config: MqttBrokerConfig, deps: MqttBrokerDeps): MqttBroker {
  const { registry, pipeline, metrics, logger, cluster, guard, wire } = deps;
  const devices = new WeakMap<Client, DeviceInfo>();
  // Live connections per device, so that revoking a device closes them at once.
  const connections = new Map<string, Set<Client>>();
  let unsubscribeRegistry: (() => void) | undefined;
  let aedes: Aedes | undefined;
  let tcp: Server | undefined;
  // The TLS port is listened on by a plain TCP server that hands admitted sockets to the TLS server.
  let tlsFront: Server | undefined;
  // TLS connections whose address was checked on accept, so preConnect does not count them twice.
  const checkedOnAccept = new WeakSet<object>();

  function deny(operation: 'publish' | 'subscribe', err: Error, client: Client | null): Error {
    metrics.denied.inc({ operation });
    logger.warn({ device: client?.id, code: (err as { code?: string }).code }, err.message);
    return err;
  }

  function notify(device: string, body: DeviceErrorReport): void {
    aedes?.publish(
      { cmd: 'publish', topic: topics.errors(device), payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false, dup: false },
      () => undefined,
    );
  }

  /** Refuses `operation` while a clustered broker cannot reach Redis; true when refused. */
  function clusterDown(operation: 'connect' | 'publish' | 'subscribe', client: Client | null): boolean {
    if (cluster === undefined || cluster.available()) return false;
    metrics.clusterRefused.inc({ operation });
    logger.warn({ device: client?.id, code: 'INGEST_ERR_CLUSTER_UNAVAILABLE' }, `${operation} refused: Redis unavailable`);
    return true;
  }

  function addressOf(client: Client): string | undefined {
    return (client.conn as { remoteAddress?: string } | undefined)?.remoteAddress;
  }

  /** Counts a failed CONNECT against the client's address (and maybe locks it out). */
  function failed(client: Client, reason: string): void {
    metrics.authFailures.inc({ reason });
    if (guard?.recordFailure(addressOf(client)) === true) {
      metrics.addressLockouts.inc({ transport: 'mqtt' });
      logger.warn({ address: addressOf(client), code: 'INGEST_ERR_LOCKED_OUT' }, 'address locked out after repeated failed logins');
    }
  }

  function track(client: Client, device: DeviceInfo): void {
    devices.set(client, device);
    let set = connections.get(device.id);
    if (set === undefined) connections.set(device.id, (set = new Set()));
    set.add(client);
    const untrack = () => {
      set.delete(client);
      if (set.size === 0 && connections.get(device.id) === set) connections.delete(device.id);
    };
    (client.conn as unknown as NodeJS.EventEmitter).once('close', untrack);
  }

  function disconnectDevice(id: string, reason: 'revoked' | 'rotated'): void {
    const live = connections.get(id);
    if (live === undefined) return;
    connections.delete(id);
    for (const client of live) {
      metrics.revokedDisconnects.inc({ reason });
      logger.info({ device: id, reason }, 'device credentials no longer valid: connection closed');
      client.close();
    }
  }

  async function acceptTelemetry(device: DeviceInfo, packet: { topic: string; payload: Buffer; retain: boolean }): Promise<void> {
    const result = await pipeline.accept(device, packet.topic, packet.payload, 'mqtt');
    if (result.outcome === 'accepted') {
      packet.payload = result.payload; // without the readings the device's sensor set refused, if any
      if (result.refused !== undefined) notify(device.id, { code: result.refused.code, message: result.refused.message, topic: packet.topic, boot: result.boot, seq: result.seq });
      return;
    }
    // Duplicates and dead letters must not reach subscribers, on this instance or another. The
    // mark has to survive routing through Redis (a copy, not this buffer), so it is the payload
    // itself: emptied here, refused by authorizeForward. No valid batch is empty.
    packet.payload = WITHHELD;
    packet.retain = false;
    if (result.outcome === 'dead_letter') {
      // MQTT 3.1.1 has no negative PUBACK: the batch is acknowledged (it is kept, as a dead
      // letter) and the device hears why on its errors topic.
      notify(device.id, { code: result.code, message: result.message, topic: packet.topic });
    }
  }

  function authorizePublish(client: Client | null, packet: { topic: string; payload: Buffer | string; retain: boolean }, cb: (err?: Error | null) => void) {
    const device = client === null ? undefined : devices.get(client);
    // Reference data for every scanner (issue 18): outside the per-device scheme, services only.
    const reference = referenceKindOf(packet.topic) !== undefined;
    let parsed: ParsedTopic | undefined;
    try {
      if (!reference) parsed = parseTopic(packet.topic);
    } catch (err) {
      return cb(deny('publish', err as Error, client));
    }
    if (device === undefined) {
      // A will published by the broker on behalf of a client gone from this instance.
      return parsed?.channel === 'status' ? cb(null) : cb(deny('publish', ingestErrors.INGEST_ERR_TOPIC_FORBIDDEN(), client));
    }
    // Revoked while this packet was on its way: nothing more is accepted from the connection.
    if (registry.get(device.id)?.revoked !== false) return cb(ingestErrors.INGEST_ERR_UNKNOWN_DEVICE(device.id));
    // Fail closed before anything is made durable or acknowledged: the device keeps the batch
    // in its journal and resends it once Redis (and so routing) is back.
    if (clusterDown('publish', client)) return cb(ingestErrors.INGEST_ERR_CLUSTER_UNAVAILABLE());
    if (!mayPublish(device, parsed)) {
      return cb(deny('publish', ingestErrors.INGEST_ERR_TOPIC_FORBIDDEN(`${device.kind} ${device.id} may not publish on ${packet.topic}`), client));
    }
    if (parsed === undefined) return cb(null);
    if (typeof packet.payload === 'string') packet.payload = Buffer.from(packet.payload);
    // A config-state report is recorded before its PUBACK; an invalid one closes the connection.
    const report = parsed.channel === 'config-state' ? deps.recordConfigReport?.(device.id, packet.payload) : undefined;
    if (report !== undefined) return void report.then(() => cb(null), (err: unknown) => cb(deny('publish', err as Error, client)));
    if (parsed.channel !== 'telemetry') return cb(null);
    acceptTelemetry(device, packet as { topic: string; payload: Buffer; retain: boolean }).then(
      () => cb(null),
      (err: unknown) => {
        // Not durable: no PUBACK. Closing the connection makes the device resend later. A batch
        // another instance holds (issue 22) is expected after a kill: counted, not an error.
        if (isCityopsError(err) && err.code === 'INGEST_ERR_CLAIM_HELD') logger.info({ err: err.message, device: device.id }, 'telemetry held by another instance: not acknowledged');
        else logger.error({ err, device: device.id }, 'telemetry could not be made durable');
        cb(err as Error);
      },
    );
  }

  return {
    publish(topic, payload, { qos, retain }) {
      const broker = aedes;
      if (broker === undefined) return Promise.resolve();
      return new Promise((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false }, (err) => (err ? reject(err) : resolve())),
      );
    },
    aedes: () => {
      if (aedes === undefined) throw new Error('broker not started');
      return aedes;
    },
    async start() {
      // parseIngestConfig says the same, for a broker built from another config.
      if (config.plain === false && config.tls === undefined) throw ingestErrors.INGEST_ERR_CONFIG('plain MQTT off needs mqtt.tls');
      if ((config.tls?.clientCert ?? 'off') !== 'off' && config.tls?.ca === undefined) throw ingestErrors.INGEST_ERR_CONFIG('client certificates need mqtt.tls.ca');
      aedes = await Aedes.createBroker({
        // aedes clears this timer once a whole CONNECT is parsed: a CONNECT trickled a byte at a
        // time is cut here, however slowly it comes.
        // The wire guard cuts sockets at connectTimeoutMs, a few per turn of the loop; aedes' own timer
        // (one per socket, all due in one run after a wave) is only the backstop.
        ...(config.wire === undefined ? {} : { connectTimeout: (wire === undefined ? 1 : 2) * config.wire.connectTimeoutMs }),
        ...(cluster === undefined
          ? {}
          : { mq: cluster.mq(), persistence: cluster.persistence(), heartbeatInterval: cluster.heartbeatIntervalMs }),
        // Before anything else of the CONNECT is looked at: a flooding address gets no CONNACK, just
        // a closed socket, and costs no scrypt. Other addresses have buckets of their own.
        preConnect(client, _packet, done) {
          if (guard === undefined || checkedOnAccept.has(client.conn) || guard.allowConnection(addressOf(client))) return done(null, true);
          metrics.addressRefused.inc({ transport: 'mqtt', reason: 'connection_rate' });
          return done(ingestErrors.INGEST_ERR_LOCKED_OUT('too many connections from this address'), false);
        },
        authenticate(client, username, password, done) {
          // Locked out: refused before the secret is checked, so guessing gets no answer at all.
          // MQTT 3.1.1 §3.2.2.3 has no "try later" code; 5 (not authorized) is what the address is.
          if (guard !== undefined && guard.lockedOutFor(addressOf(client)) > 0) {
            metrics.addressRefused.inc({ transport: 'mqtt', reason: 'locked_out' });
            return done(authError(NOT_AUTHORIZED, 'too many failed logins from this address'), false);
          }
          if (username === undefined || password === undefined) {
            failed(client, 'INGEST_ERR_BAD_CREDENTIALS');
            return done(authError(BAD_USERNAME_OR_PASSWORD, 'username and password required'), false);
          }
          // A device's client id is its device id (or starts with "<id>:"), so one device can never
          // take over another's session by reusing its client id.
          if (client.id !== username && !client.id.startsWith(`${username}:`)) {
            failed(client, 'INGEST_ERR_CLIENT_ID');
            return done(authError(IDENTIFIER_REJECTED, 'client id must be the device id'), false);
          }
          // A device certificate is a second factor beside the secret, bound to the device id: CN=A
          // never logs in as B. Checked before the secret, which then costs no scrypt.
          const certProblem = certificateProblem(client.conn, username);
          if (certProblem !== undefined) {
            failed(client, 'INGEST_ERR_CLIENT_CERT');
            logger.warn({ device: username, code: 'INGEST_ERR_CLIENT_CERT' }, certProblem);
            return done(authError(NOT_AUTHORIZED, 'client certificate refused'), false);
          }
          if (clusterDown('connect', client)) return done(authError(SERVER_UNAVAILABLE, 'cluster routing unavailable'), false);
          registry.authenticate(username, password.toString('utf8')).then(
            (device) => {
              // Revoked while its secret was being checked.
              if (registry.get(device.id)?.revoked !== false) {
                failed(client, 'INGEST_ERR_UNKNOWN_DEVICE');
                return done(authError(BAD_USERNAME_OR_PASSWORD, 'not authorized'), false);
              }
              track(client, device);
              done(null, true);
            },
            (err: unknown) => {
              const code = (err as { code?: string }).code ?? 'INGEST_ERR_INTERNAL';
              const known = code === 'INGEST_ERR_UNKNOWN_DEVICE' || code === 'INGEST_ERR_BAD_CREDENTIALS';
              if (known) failed(client, code);
              else metrics.authFailures.inc({ reason: code });
              // Busy (a login flood queued the secret checks): the device retries; not its failure, not ours.
              if (!known && code !== 'INGEST_ERR_REGISTRY_BUSY') logger.error({ err }, 'device authentication failed');
              done(authError(known ? BAD_USERNAME_OR_PASSWORD : SERVER_UNAVAILABLE, 'not authorized'), false);
            },
          );
        },
        authorizePublish,
        authorizeSubscribe(client, subscription, done) {
          const device = devices.get(client);
          // SUBACK 0x80 rather than a subscription Redis never heard of (a deaf subscriber).
          if (clusterDown('subscribe', client)) return done(null, null);
          if (device !== undefined && maySubscribe(device, subscription.topic)) return done(null, subscription);
          deny('subscribe', ingestErrors.INGEST_ERR_SUBSCRIBE_FORBIDDEN(subscription.topic), client);
          // A null subscription is refused with SUBACK return code 0x80 (MQTT 3.1.1 §3.9.3).
          done(null, null);
        },
        authorizeForward(_client, packet: AedesPublishPacket) {
          return packet.payload.length === 0 && packet.topic.startsWith(TELEMETRY_PREFIX) ? null : packet;
        },
      });
      // aedes emits 'error' when persistence fails under a publish (offline queues) or while
      // publishing the wills of a dead instance; unheard, it would crash the process.
      (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => {
        metrics.clusterErrors.inc({ operation: 'persistence' });
        logger.error({ err }, 'broker persistence failed; the message reached live subscribers only');
      });
      unsubscribeRegistry = registry.onCredentialsChanged(disconnectDevice);
      aedes.on('client', (client) => {
        wire?.authenticated(client.conn);
        metrics.clients.inc();
      });
      aedes.on('connectionError', (_client, err) => {
        if (err.message === 'connect did not arrive in time') metrics.refusedSockets.inc({ reason: 'connect_timeout' });
      });
      aedes.on('clientDisconnect', () => metrics.clients.dec());
      aedes.on('clientError', (client, err) => logger.debug({ device: client.id, err: err.message }, 'client error'));
      const broker = aedes;
      const coalesce = { maxBytes: config.writeCoalesceBytes ?? 65_536 };
      const start = (socket: Socket): void => {
        coalesceWrites(socket, coalesce); // aedes writes each routed message in an immediate of its own
        broker.handle(socket);
      };
      // Nothing is written before the hand-over: a socket still waiting for its CONNECT costs no coalescer.
      const handle = (socket: Socket, accepted?: Socket): void => {
        if (wire === undefined) start(socket);
        else wire.handOver(socket, start, accepted);
      };
      // Small QoS 1 exchanges (a PUBACK, a verify request) must not wait for Nagle's algorithm: with it
      // on at both ends a request/response through the broker took ~88 ms instead of under 1 ms.
      let port: number | undefined;
      if (config.plain !== false) {
        tcp = createTcpServer({ noDelay: true }, (socket) => {
          if (wire === undefined || wire.admit(socket)) handle(socket);
        });
        port = await listen(tcp, config.port, config.host);
        wire?.gate(tcp);
      }
      const plainPort = port === undefined ? {} : { port };
      if (config.tls === undefined) return plainPort;
      const clientCert = config.tls.clientCert ?? 'off';
      const tlsOptions = {
        key: config.tls.key,
        cert: config.tls.cert,
        ...(config.tls.ca === undefined ? {} : { ca: config.tls.ca }),
        // optional: an untrusted certificate still completes the handshake and is refused at CONNECT
        // (authenticate), where it is counted against the address like a wrong secret.
        requestCert: clientCert !== 'off',
        rejectUnauthorized: clientCert === 'required',
      };
      // The TCP socket each TLS socket was accepted as (counted by the wire guard at accept), by
      // remote address and port: both sockets report the same.
      const acceptedAs = new Map<string, Socket>();
      const peerOf = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
      const tls = createTlsServer(tlsOptions, (socket: TLSSocket) => {
        checkedOnAccept.add(socket);
        handle(socket, acceptedAs.get(peerOf(socket)));
      });
      tls.on('tlsClientError', () => metrics.tlsHandshakes.inc({ outcome: 'failed' }));
      tls.on('secureConnection', () => metrics.tlsHandshakes.inc({ outcome: 'completed' }));
      // The connection rate is checked on the raw TCP socket, before the TLS server sees it: a flood
      // of handshakes would cost CPU (and the handshake an allocation) long before aedes' preConnect.
      tlsFront = createTcpServer({ noDelay: true }, (socket: Socket) => {
        if (guard !== undefined && !guard.allowConnection(socket.remoteAddress)) {
          metrics.addressRefused.inc({ transport: 'mqtt', reason: 'connection_rate' });
          socket.destroy();
          return;
        }
        if (wire !== undefined) {
          if (!wire.admit(socket)) return;
          const peer = peerOf(socket);
          acceptedAs.set(peer, socket);
          socket.once('close', () => acceptedAs.delete(peer));
        }
        // tls.Server documents 'connection' as the way to inject a socket for a handshake.
        tls.emit('connection', socket);
      });
      const tlsPort = await listen(tlsFront, config.tls.port, config.tls.host);
      wire?.gate(tlsFront);
      return { ...plainPort, tlsPort };
    },
    async stop() {
      unsubscribeRegistry?.();
      unsubscribeRegistry = undefined;
      wire?.stop();
      const closing = [close(tlsFront), close(tcp)];
      if (aedes !== undefined) {
        const broker = aedes;
        // Closes every client connection too, so the servers can finish closing.
        await new Promise<void>((resolve) => broker.close(() => resolve()));
      }
      await Promise.all(closing);
      aedes = undefined;
    },
  };
}
