import { connect, type Socket } from 'node:net';
import type { AttackProcessConfig, AttackStats, SocketAttackSpec } from './hostile-attack-messages.ts';

export interface Attack {
  /** Opens the first sockets wave by wave in the background; returns at once. */
  start(): void;
  /** Stops reopening, closes every socket of the attack and returns what it did. */
  stop(): Promise<AttackStats>;
}

// MQTT 3.1.1 §2.2.3: the largest Remaining Length four bytes can say, 268,435,455.
const MAX_REMAINING_LENGTH = [0xff, 0xff, 0xff, 0x7f];
const OVERSIZED_CONNECT = Buffer.from([0x10, ...MAX_REMAINING_LENGTH]);
// A QoS 1 PUBLISH (§3.3.1: type 3, QoS bits 01) declaring the same.
const OVERSIZED_PUBLISH = Buffer.from([0x32, ...MAX_REMAINING_LENGTH]);
// A plausible 90-byte CONNECT that a slowloris never finishes sending.
const SLOW_CONNECT = Buffer.concat([Buffer.from([0x10, 90]), Buffer.alloc(90)]);

/** A Variable Byte Integer (MQTT 3.1.1 §2.2.3). */
function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** A UTF-8 string with its two-byte length (§1.5.3). */
function mqttString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/**
 * A CONNECT with credentials (§3.1): protocol "MQTT" level 4, flags username + password + clean
 * session (0xc2), keep alive 60 s. Written by hand: a hostile client uses no MQTT library.
 */
export function connectPacket(clientId: string, username: string, password: string): Buffer {
  const body = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0xc2, 0, 60]), mqttString(clientId), mqttString(username), mqttString(password)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** Resolves once the socket may take more (drain) or is gone. */
function writable(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * One attack of the hostile bench, as a hostile client plays it with raw sockets from loopback
 * aliases: it keeps `perAddress` sockets per address going, each reopened `reopenAfterMs` after the
 * broker closes it, until stopped.
 */
export function createAttack(target: AttackProcessConfig, spec: SocketAttackSpec): Attack {
  const zeros = Buffer.alloc(1 << 20);
  // Every socket of the attack not yet closed (connecting or connected), and those connected.
  const sockets = new Set<Socket>();
  const open = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  // Slowloris: the next byte of the CONNECT each open socket sends.
  const trickle = new Map<Socket, number>();
  let interval: NodeJS.Timeout | undefined;
  let stopping = false;
  let sequence = 0;
  const stats = { attempts: 0, connected: 0, closedByBroker: 0, loggedIn: 0, loginsRefused: 0, bytesSent: 0 };

  /** Writes `header`, then zeros as fast as the socket takes them, until the broker closes it. */
  async function stream(socket: Socket, header: Buffer): Promise<void> {
    socket.write(header);
    while (!socket.destroyed && !stopping) {
      if (!socket.write(zeros)) await writable(socket);
    }
  }

  /** Sends a CONNECT with the device's id and `secret`; `then` once it is accepted (a refused one is closed). */
  function logIn(socket: Socket, device: { id: string; secret: string }, then: () => void): void {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      socket.off('data', onData);
      // CONNACK (§3.2): 0x20, length 2, flags, return code; 0 is accepted.
      if (received[0] !== 0x20 || received[3] !== 0) {
        stats.loginsRefused++;
        return void socket.destroy();
      }
      stats.loggedIn++;
      then();
    };
    socket.on('data', onData);
    // Its own client id per socket (`<device>:<n>`, which the broker allows), so no login takes over another's session.
    socket.write(connectPacket(`${device.id}:${++sequence}`, device.id, device.secret));
  }

  function behave(socket: Socket): void {
    if (spec.kind === 'oversized_connect') void stream(socket, OVERSIZED_CONNECT);
    else if (spec.kind === 'oversized_publish') logIn(socket, spec.device, () => void stream(socket, OVERSIZED_PUBLISH));
    else if (spec.kind === 'failed_logins') logIn(socket, spec.device, () => socket.destroy());
    else if (spec.kind === 'slowloris') trickle.set(socket, 0);
    // idle_sockets: say nothing.
  }

  /** Opens one socket; resolves once it has connected or failed (the next wave waits for that). */
  function openOne(address: string): Promise<void> {
    return new Promise((settled) => {
      stats.attempts++;
      const socket = connect({ host: target.host, port: target.port, localAddress: address, noDelay: true });
      sockets.add(socket);
      let connected = false;
      socket.on('error', () => undefined);
      socket.once('connect', () => {
        if (stopping) return void socket.destroy();
        connected = true;
        stats.connected++;
        open.add(socket);
        behave(socket);
        settled();
      });
      socket.once('close', () => {
        sockets.delete(socket);
        open.delete(socket);
        trickle.delete(socket);
        stats.bytesSent += socket.bytesWritten;
        settled();
        if (stopping) return;
        if (connected) stats.closedByBroker++;
        reopen(address);
      });
    });
  }

  function reopen(address: string): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopping) void openOne(address);
    }, spec.reopenAfterMs);
    timers.add(timer);
  }

  async function openWaves(): Promise<void> {
    const slots = spec.addresses.flatMap((address) => Array.from({ length: spec.perAddress }, () => address));
    for (let i = 0; i < slots.length && !stopping; i += spec.waveSize) {
      await Promise.all(slots.slice(i, i + spec.waveSize).map((address) => openOne(address)));
    }
  }

  return {
    start() {
      if (spec.kind === 'slowloris') {
        interval = setInterval(() => {
          for (const [socket, next] of trickle) {
            if (next >= SLOW_CONNECT.length) continue;
            socket.write(SLOW_CONNECT.subarray(next, next + 1));
            trickle.set(socket, next + 1);
          }
        }, spec.byteEveryMs);
      }
      void openWaves();
    },
    async stop() {
      stopping = true;
      clearInterval(interval);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const openAtStop = open.size;
      const closing = [...sockets].map((socket) => new Promise((resolve) => (socket.closed ? resolve(undefined) : socket.once('close', resolve))));
      for (const socket of sockets) socket.destroy();
      await Promise.all(closing);
      return { ...stats, openAtStop };
    },
  };
}
