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
 * is copied and nothing kept but four numbers.
 */
export function createPacketScanner(limits: PacketLimits): PacketScanner {
  const limitOf = (type: number): number =>
    type === CONNECT ? limits.connectBytes : type === PUBLISH ? limits.publishBytes : type === SUBSCRIBE || type === UNSUBSCRIBE ? limits.subscribeBytes : limits.otherBytes;
  // -1: at a packet's first byte; 0..3: reading the length's bytes; 4: skipping the body.
  let state = -1;
  let type = 0;
  let length = 0;
  let multiplier = 1;
  let body = 0;
  let packets = 0;
  let firstPacketBytes: number | undefined;
  return {
    get packets() {
      return packets;
    },
    get firstPacketBytes() {
      return firstPacketBytes;
    },
    scan(chunk) {
      let i = 0;
      const n = chunk.length;
      while (i < n) {
        if (state === 4) {
          const skip = Math.min(body, n - i);
          body -= skip;
          i += skip;
          if (body === 0) {
            state = -1;
            packets++;
          }
          continue;
        }
        const byte = chunk[i++]!;
        if (state === -1) {
          type = byte >> 4;
          length = 0;
          multiplier = 1;
          state = 0;
          continue;
        }
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) !== 0) {
          state++;
          // A fourth byte with its continuation bit set announces a fifth: malformed (§2.2.3).
          if (state === 4) return { reason: 'malformed', type: TYPE_NAMES[type]! };
          continue;
        }
        if (length > limitOf(type)) return { reason: 'too_large', type: TYPE_NAMES[type]!, length };
        // The type byte, the length's bytes (state 0..3 is the index of the last one), the body.
        if (packets === 0) firstPacketBytes ??= 2 + state + length;
        if (length === 0) {
          state = -1;
          packets++;
        } else {
          body = length;
          state = 4;
        }
      }
      return undefined;
    },
  };
}
