/**
 * Reads the MQTT fixed header of every packet a connection sends, as the bytes arrive and before
 * aedes' parser buffers a body, so a peer that declares a huge remaining length is refused after a
 * few bytes instead of after hundreds of megabytes (aedes 1.2 caps nothing).
 *
 * Fixed header, MQTT 3.1.1 §2.2 (MQTT 5 §2.1.1): byte 1 is the packet type in its high nibble; then
 * the Remaining Length, a Variable Byte Integer of at most four bytes (3.1.1 §2.2.3, MQTT 5 §1.5.5),
 * whose value bounds the rest of the packet. A fifth continuation byte is malformed (a protocol error).
 */

/** Packet types (MQTT 3.1.1 §2.2.1 Table 2.1), the ones a client sends that have limits of their own. */
const CONNECT = 1;
const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;
const TYPE_NAMES = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'] as const;
export type PacketTypeName = (typeof TYPE_NAMES)[number];

export interface PacketLimits {
  /** Remaining length of a CONNECT at most: client id, credentials, will. */
  readonly connectBytes: number;
  /** Of a PUBLISH: the payload limit plus topic, packet id and properties. */
  readonly publishBytes: number;
  /** Of a SUBSCRIBE or UNSUBSCRIBE. */
  readonly subscribeBytes: number;
  /** Of any other packet (acknowledgements, PINGREQ, DISCONNECT: a few bytes; MQTT 5 adds properties). */
  readonly otherBytes: number;
}

export interface PacketRefusal {
  readonly reason: 'too_large' | 'malformed';
  readonly type: PacketTypeName;
  /** The declared remaining length (too_large only). */
  readonly length?: number;
}

export interface PacketScanner {
  /** Scans the next bytes of the stream; a refusal once a header breaks the limits (the connection must close). */
  scan(chunk: Buffer): PacketRefusal | undefined;
  /** Complete packets seen so far (the first is the CONNECT, MQTT 3.1.1 §3.1 [MQTT-3.1.0-1]). */
  readonly packets: number;
  /** The first packet's whole size (fixed header included) once its length is read; undefined before. */
  readonly firstPacketBytes: number | undefined;
}

/**
 * A scanner for one connection. It only reads header bytes and skips bodies by arithmetic: nothing
 * is copied and nothing kept but a few numbers. One object with its methods on the prototype (no
 * closures): every socket past its first byte holds one, and a slowloris attack holds thousands.
 */
export function createPacketScanner(limits: PacketLimits): PacketScanner {
  return new ConnectionScanner(limits);
}

class ConnectionScanner implements PacketScanner {
  packets = 0;
  firstPacketBytes: number | undefined = undefined;
  // -1: at a packet's first byte; 0..3: reading the length's bytes; 4: skipping the body.
  private state = -1;
  private type = 0;
  private length = 0;
  private multiplier = 1;
  private body = 0;
  private readonly limits: PacketLimits;

  constructor(limits: PacketLimits) {
    this.limits = limits;
  }

  private limitOf(type: number): number {
    const limits = this.limits;
    return type === CONNECT ? limits.connectBytes : type === PUBLISH ? limits.publishBytes : type === SUBSCRIBE || type === UNSUBSCRIBE ? limits.subscribeBytes : limits.otherBytes;
  }

  scan(chunk: Buffer): PacketRefusal | undefined {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === 4) {
        const skip = Math.min(this.body, n - i);
        this.body -= skip;
        i += skip;
        if (this.body === 0) {
          this.state = -1;
          this.packets++;
        }
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === -1) {
        this.type = byte >> 4;
        this.length = 0;
        this.multiplier = 1;
        this.state = 0;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if ((byte & 0x80) !== 0) {
        this.state++;
        // A fourth byte with its continuation bit set announces a fifth: malformed (§2.2.3).
        if (this.state === 4) return { reason: 'malformed', type: TYPE_NAMES[this.type]! };
        continue;
      }
      const length = this.length;
      if (length > this.limitOf(this.type)) return { reason: 'too_large', type: TYPE_NAMES[this.type]!, length };
      // The type byte, the length's bytes (state 0..3 is the index of the last one), the body.
      if (this.packets === 0) this.firstPacketBytes ??= 2 + this.state + length;
      if (length === 0) {
        this.state = -1;
        this.packets++;
      } else {
        this.body = length;
        this.state = 4;
      }
    }
    return undefined;
  }
}
