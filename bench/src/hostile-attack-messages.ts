/** What the hostile bench's attacker process is told and tells back (over the IPC channel). */

/** Where the attacks go: the broker's plain MQTT listener. */
export interface AttackProcessConfig {
  readonly host: string;
  readonly port: number;
}

/** Sockets from each of `addresses` (loopback aliases such as 127.0.0.2), `perAddress` of them each. */
interface AttackSockets {
  readonly addresses: readonly string[];
  readonly perAddress: number;
  /** A socket the broker closed is opened again this long after (0: at once). */
  readonly reopenAfterMs: number;
  /** Sockets opened at once at the start, wave after wave (the listen backlog is 511: beyond, SYNs are retried). */
  readonly waveSize: number;
}

export type AttackSpec =
  /** A CONNECT declaring 268,435,455 bytes, then zeros until the broker closes it (no credentials). */
  | (AttackSockets & { readonly kind: 'oversized_connect' })
  /** A provisioned device logs in, then sends a PUBLISH declaring 268,435,455 bytes and streams zeros. */
  | (AttackSockets & { readonly kind: 'oversized_publish'; readonly device: { readonly id: string; readonly secret: string } })
  /** CONNECTs of a provisioned device with a wrong secret (each costs the broker an scrypt until the address is locked out). */
  | (AttackSockets & { readonly kind: 'failed_logins'; readonly device: { readonly id: string; readonly secret: string } })
  /** Sockets that never send a byte. */
  | (AttackSockets & { readonly kind: 'idle_sockets' })
  /** A CONNECT sent one byte per socket every `byteEveryMs` (slowloris). */
  | (AttackSockets & { readonly kind: 'slowloris'; readonly byteEveryMs: number })
  /**
   * Issue 17: a provisioned gateway publishes `batches` valid QoS 1 batches, every reading a sensor id
   * never seen before, `batchesPerSecond` of them, then falls silent (stays connected until stopped).
   */
  | {
      readonly kind: 'sensor_flood';
      readonly device: { readonly id: string; readonly secret: string };
      readonly batches: number;
      readonly readingsPerBatch: number;
      readonly batchesPerSecond: number;
      readonly inflight: number;
    };

export type AttackKind = AttackSpec['kind'];
/** The attacks played with raw sockets (hostile-attacks.ts). */
export type SocketAttackSpec = Exclude<AttackSpec, { readonly kind: 'sensor_flood' }>;

export interface AttackStats {
  /** Sockets the attacker tried to open. */
  readonly attempts: number;
  /** Of those, how many completed the TCP handshake. */
  readonly connected: number;
  /** Sockets the broker closed (the attacker closes none until told to stop). */
  readonly closedByBroker: number;
  /** Logins accepted (CONNACK 0) and refused (another return code) by the broker. */
  readonly loggedIn: number;
  readonly loginsRefused: number;
  readonly bytesSent: number;
  /** Sockets open (connected, not yet closed) when the attack was stopped. */
  readonly openAtStop: number;
  /** The sensor flood: batches published and acknowledged (PUBACK), distinct sensor ids sent. */
  readonly batchesPublished?: number;
  readonly batchesAcked?: number;
  readonly sensorIds?: number;
}

/** Parent → attacker process. */
export type AttackCommand = { readonly type: 'start'; readonly spec: AttackSpec } | { readonly type: 'stop' };

/** Attacker process → parent. */
export type AttackMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'started' }
  | { readonly type: 'stopped'; readonly stats: AttackStats }
  | { readonly type: 'error'; readonly message: string };
