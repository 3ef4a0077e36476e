import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { createConnectionCaps, createLogThrottle, normalizeAddress } from '@cityops/protocol';
import { createAcceptGate, type AcceptGateConfig } from './accept-gate.ts';
import type { IngestMetrics } from './ingest-metrics.ts';
import { createPacketScanner, type PacketLimits, type PacketRefusal, type PacketScanner } from './mqtt-packet-limits.ts';
import { createTurnQueue } from './turn-queue.ts';
import { createByteAccumulator, type ByteAccumulator } from './byte-accumulator.ts';

/** The broker's limits before (and at) the MQTT parser: what a peer without credentials can hold. */
export interface WireGuardConfig {
  readonly packets: PacketLimits;
  /** Open connections from one address, counted at accept (before any CONNECT). */
  readonly maxConnectionsPerAddress: number;
  /** Addresses the per-address cap leaves alone (limits.exemptAddresses: a local proxy is everyone's address). */
  readonly exemptAddresses: readonly string[];
  /** Sockets accepted but not yet past CONNECT/CONNACK, over all addresses. */
  readonly maxUnauthenticated: number;
  /** A refusal is logged at most once per address per interval (a flood must not flood the log). */
  readonly logIntervalMs: number;
  /**
   * A socket not past CONNACK this long after accept is cut (slowloris, idle sockets). Absent: no
   * deadline here (aedes' own connectTimeout only).
   */
  readonly connectTimeoutMs?: number;
  /** Sockets cut per turn of the event loop at the deadline: a wave of expiries must not stall PUBACKs. */
  readonly cutsPerTurn?: number;
  /**
   * A turn of the accept gate, the hand-overs to aedes or the deadline sweep also ends once it has
   * taken this long (turn-queue.ts): a PUBACK behind it waits at most about this. Absent: counts only.
   */
  readonly turnBudgetMs?: number;
  /**
   * An address whose connection sent an oversized or malformed packet before authenticating is
   * refused at the accept gate this long (0: never): its reconnects cost a bare accept and close,
   * not a socket, a 64 KiB read and a scan each (~160 µs of broker CPU per oversized CONNECT, against
   * ~40 µs refused at the gate). At most `maxPenalised` addresses, the oldest forgotten first.
   */
  readonly penaltyMs?: number;
  readonly maxPenalised?: number;
  /** The accept gate: connections let through per turn, and waiting at most (beyond: closed at once). */
  readonly accept?: AcceptGateConfig;
}

export interface WireGuardDeps {
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface WireGuard {
  /** Puts the accept gate (accept-gate.ts) in front of a listening server: caps checked before a connection is a socket. */
  gate(server: Server): void;
  /** Counts a just-accepted socket; false (and the socket destroyed) when a cap is reached. */
  admit(socket: Socket): boolean;
  /**
   * Hands `conn` to aedes (`start`) once its first packet (the CONNECT) is whole, and scans what aedes
   * then reads for oversized or malformed packets. Until then a socket is only a socket, with no MQTT
   * client, parser or timers of aedes behind it (those cost ~3 KiB of heap and ~7 KiB of RSS more
   * per idle socket, measured over 2,000; an idle-socket or slowloris attack holds thousands); one
   * that ends before its CONNECT is whole is destroyed. Over TLS `conn` is the TLS socket and
   * `accepted` the TCP socket admitted under it.
   */
  handOver(conn: Socket, start: (conn: Socket) => void, accepted?: Socket): void;
  /** The connection `conn` has completed CONNECT: it no longer counts as unauthenticated. */
  authenticated(conn: object): void;
  /** Stops the deadline sweep (the sockets themselves are closed with the broker). */
  stop(): void;
}

const ignoreError = (): void => undefined;

/** A socket that ends before its CONNECT is whole is closed (after the hand-over, 'end' is aedes'). */
function endedEarly(this: Socket): void {
  this.destroy();
}

/** A socket's first packet so far, until it is handed to aedes. */
interface Gathering {
  readonly start: (conn: Socket) => void;
  scanner?: PacketScanner;
  held?: ByteAccumulator;
}

export function createWireGuard(config: WireGuardConfig, deps: WireGuardDeps): WireGuard {
  const { metrics, logger, now } = deps;
  // The global cap here is on sockets not yet past CONNECT (`pending`), not on open sockets.
  const caps = createConnectionCaps({ maxPerAddress: config.maxConnectionsPerAddress, maxTotal: Number.POSITIVE_INFINITY, exemptAddresses: config.exemptAddresses });
  // Sockets counted as unauthenticated until CONNACK (or close), with their accept time; in accept
  // order, so the oldest is first and the deadline sweep stops at the first one not yet due.
  const pending = new Map<Socket, number>();
  const cutsPerTurn = config.cutsPerTurn ?? 64;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweepImmediate: NodeJS.Immediate | undefined;
  let stopped = false;
  const logNow = createLogThrottle({ intervalMs: config.logIntervalMs, now });
  // TLS socket -> the TCP socket admitted under it.
  const admittedAs = new WeakMap<object, object>();

  function logOnce(address: string, fields: Record<string, unknown>, message: string): void {
    if (logNow(address)) logger.warn({ address, ...fields }, message);
  }

  function refusedAtAccept(reason: string, address: string): void {
    metrics.refusedSockets.inc({ reason });
    logOnce(address, { code: 'INGEST_ERR_WIRE_LIMIT', reason }, 'MQTT connection refused at accept');
  }

  // Address -> until when (monotonic clock) its connections are refused; in order of penalty.
  const penalties = new Map<string, number>();
  const penaltyMs = config.penaltyMs ?? 0;
  const exempt = new Set(config.exemptAddresses.map((a) => normalizeAddress(a)));

  function penalise(address: string): void {
    if (penaltyMs === 0 || exempt.has(address)) return;
    penalties.delete(address);
    if (penalties.size >= (config.maxPenalised ?? 10_000)) penalties.delete(penalties.keys().next().value as string);
    penalties.set(address, performance.now() + penaltyMs);
  }

  function refusalAt(address: string): 'address_penalty' | 'address_connections' | 'unauthenticated_sockets' | undefined {
    const until = penalties.get(address);
    if (until !== undefined) {
      if (until > performance.now()) return 'address_penalty';
      penalties.delete(address);
    }
    if (caps.refusal(address) !== undefined) return 'address_connections';
    if (pending.size >= config.maxUnauthenticated) return 'unauthenticated_sockets';
    return undefined;
  }

  // Connections whose CONNECT is whole, waiting to be handed to aedes: at most perTurn per turn of
  // the loop (the next turn: by then each stream has noticed that no one listens for 'readable', so
  // aedes' listener is told about the bytes put back). A wave of a thousand sockets completing their
  // CONNECT together would otherwise build a thousand aedes clients in one turn, ~30 ms.
  // Each is a socket not yet past CONNECT, so maxUnauthenticated bounds them.
  const starts = createTurnQueue<() => void>({ perTurn: config.accept?.perTurn ?? 64, maxQueued: config.maxUnauthenticated, budgetMs: config.turnBudgetMs }, (start) => start());

  const acceptGate = createAcceptGate({ perTurn: 64, maxQueued: 4_096, ...config.accept, budgetMs: config.turnBudgetMs }, { refusal: refusalAt, refused: refusedAtAccept, logger });

  function refusePacket(conn: Socket, refusal: PacketRefusal): void {
    const address = normalizeAddress(conn.remoteAddress) ?? 'unknown';
    metrics.refusedPackets.inc({ reason: refusal.reason, type: refusal.type });
    logOnce(address, { code: 'INGEST_ERR_WIRE_LIMIT', ...refusal }, 'MQTT packet refused: connection closed');
    // Before authentication only: a device that logged in is known, and answers for itself.
    if (pending.has((admittedAs.get(conn) ?? conn) as Socket)) penalise(address);
    conn.destroy();
  }

  function forgetPending(this: Socket): void {
    if (pending.delete(this)) metrics.unauthenticatedSockets.set(pending.size);
  }

  /**
   * Cuts sockets past the CONNECT deadline, oldest first, at most `cutsPerTurn` (or `turnBudgetMs`)
   * per turn of the event loop, yielding to I/O between turns. One timer for all of them: with one timer per socket
   * (aedes' connectTimeout) a thousand slowloris sockets accepted in one wave expire in one timer
   * run, and closing them all at once (~30 µs each) paused every device's PUBACK for ~30 ms.
   */
  function sweep(): void {
    sweepTimer = undefined;
    sweepImmediate = undefined;
    if (stopped || config.connectTimeoutMs === undefined) return;
    const t = performance.now();
    const until = t + (config.turnBudgetMs ?? Number.POSITIVE_INFINITY);
    // Sockets due within the slack are cut in this sweep too: one wake-up per wave, not per socket.
    const slack = Math.min(100, config.connectTimeoutMs / 10);
    let cut = 0;
    for (const [socket, acceptedAt] of pending) {
      const due = acceptedAt + config.connectTimeoutMs;
      if (due > t + slack) {
        sweepTimer = setTimeout(sweep, due - t);
        sweepTimer.unref();
        break;
      }
      if (cut === cutsPerTurn || (cut > 0 && performance.now() >= until)) {
        sweepImmediate = setImmediate(sweep);
        break;
      }
      cut++;
      pending.delete(socket);
      metrics.refusedSockets.inc({ reason: 'connect_timeout' });
      socket.destroy();
    }
    // Here, not in the sockets' close handlers: they find them already gone from `pending`.
    if (cut > 0) metrics.unauthenticatedSockets.set(pending.size);
  }

  // Sockets not yet handed to aedes, with what their first bytes made (a WeakMap: nothing to forget
  // when one closes). Their listeners below are the guard's, shared: per socket only this entry, and
  // the scanner and buffer once bytes come (an idle socket holds neither). Nothing here is a `once`
  // or a closure per socket: under tsx each named closure is a property dictionary too (~0.3 KiB).
  const waiting = new WeakMap<Socket, Gathering>();

  /**
   * Before aedes: the first packet's bytes, read and scanned as they come, and handed over (put back
   * in the stream) once the CONNECT is whole. A slowloris trickling a byte a second, or an idle
   * socket, never costs an MQTT client; an oversized first packet is refused unparsed.
   */
  function gather(this: Socket): void {
    readFirstPacket(this);
  }

  function readFirstPacket(conn: Socket): void {
    const state = waiting.get(conn);
    if (state === undefined) return;
    const scanner = (state.scanner ??= createPacketScanner(config.packets));
    const held = (state.held ??= createByteAccumulator());
    for (let chunk = conn.read() as Buffer | null; chunk !== null; chunk = conn.read() as Buffer | null) {
      const refusal = scanner.scan(chunk);
      if (refusal !== undefined) return refusePacket(conn, refusal);
      held.append(chunk, scanner.firstPacketBytes);
    }
    if (scanner.packets === 0 || conn.destroyed) return;
    waiting.delete(conn);
    conn.off('readable', gather);
    conn.off('end', endedEarly);
    const bytes = held.bytes();
    conn.unshift(bytes);
    const queued = starts.push(() => {
      conn.off('error', ignoreError);
      if (conn.destroyed) return;
      scanReads(conn, scanner, bytes.length);
      state.start(conn);
    });
    if (!queued) conn.destroy();
  }

  /**
   * From the hand-over on, scans each chunk aedes reads before its parser sees it. aedes 1.2 pulls
   * with conn.read() on 'readable': an oversized body is refused at its header, having cost at most
   * one socket read (the stream's highWaterMark), never the declared length. The first `scanned`
   * bytes (the CONNECT, put back for aedes) were scanned already.
   */
  function scanReads(conn: Socket, scanner: PacketScanner, scanned: number): void {
    const read = conn.read.bind(conn);
    conn.read = (size?: number) => {
      const chunk = read(size) as Buffer | null;
      if (chunk === null || conn.destroyed) return chunk;
      const fresh = scanned === 0 ? chunk : chunk.subarray(Math.min(scanned, chunk.length));
      scanned = Math.max(0, scanned - chunk.length);
      const refusal = fresh.length === 0 ? undefined : scanner.scan(fresh);
      if (refusal === undefined) return chunk;
      refusePacket(conn, refusal);
      return null;
    };
  }

  return {
    gate(server) {
      acceptGate.attach(server);
    },
    admit(socket) {
      const address = normalizeAddress(socket.remoteAddress) ?? 'unknown';
      const refusal = refusalAt(address);
      if (refusal !== undefined) {
        refusedAtAccept(refusal, address);
        socket.destroy();
        return false;
      }
      caps.count(socket, address);
      // The deadline runs on the monotonic clock: `now` is the data clock, which tests may hold still or move.
      pending.set(socket, performance.now());
      metrics.unauthenticatedSockets.set(pending.size);
      if (sweepTimer === undefined && sweepImmediate === undefined && config.connectTimeoutMs !== undefined && !stopped) {
        sweepTimer = setTimeout(sweep, config.connectTimeoutMs);
        sweepTimer.unref();
      }
      socket.on('close', forgetPending);
      return true;
    },
    handOver(conn, start, accepted = conn) {
      if (accepted !== conn) admittedAs.set(conn, accepted);
      // Until aedes listens, a reset from the peer must not be an unhandled 'error'.
      conn.on('error', ignoreError);
      waiting.set(conn, { start });
      conn.on('readable', gather);
      conn.on('end', endedEarly);
    },
    authenticated(conn) {
      if (pending.delete((admittedAs.get(conn) ?? conn) as Socket)) metrics.unauthenticatedSockets.set(pending.size);
    },
    stop() {
      stopped = true;
      acceptGate.stop();
      starts.stop();
      // Sockets not past CONNECT, aedes' or not yet: the broker's servers close only once every
      // connection has, and an idle one would otherwise hold the stop until its peer gives up.
      for (const socket of pending.keys()) socket.destroy();
      pending.clear();
      metrics.unauthenticatedSockets.set(0);
      if (sweepTimer !== undefined) clearTimeout(sweepTimer);
      if (sweepImmediate !== undefined) clearImmediate(sweepImmediate);
    },
  };
}
