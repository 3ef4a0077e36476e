import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { normalizeAddress } from '@cityops/protocol';
import { createTurnQueue, type TurnQueueConfig } from './turn-queue.ts';

/**
 * What libuv hands a listening TCP server for each accepted connection, before Node wraps it in a
 * `net.Socket` (Node's `TCPWrap`: lib/net.js `onconnection(err, clientHandle)`).
 */
interface AcceptedHandle {
  getpeername(out: { address?: string }): number;
  close(): void;
}

type OnConnection = (this: unknown, status: number, handle: AcceptedHandle) => void;

/** Connections taken from the accept queue per turn of the event loop (and the turn's time budget); waiting at most `maxQueued`, beyond it closed at once. */
export type AcceptGateConfig = TurnQueueConfig;

export interface AcceptGateDeps {
  /** Why a connection from `address` is refused before it costs a socket; undefined: let it in. */
  readonly refusal: (address: string) => string | undefined;
  /** A connection closed at the gate (a cap, or the queue full). */
  readonly refused: (reason: string, address: string) => void;
  readonly logger: Logger;
}

export interface AcceptGate {
  /** Puts the gate in front of a listening server; false when this Node has no hook for it (the server works ungated). */
  attach(server: Server): boolean;
  /** Closes the connections still waiting (the servers themselves are closed by their owner). */
  stop(): void;
}

/**
 * The broker's accept path under a connection flood. libuv accepts a listener's whole backlog in one
 * callback (up to 511 connections), and Node builds a `net.Socket` for each before any listener sees
 * it: a flood of sockets refused by a cap cost ~40 µs each in one run, tens of milliseconds with no
 * I/O in between, which every device's PUBACK waited for (bench/profiles/2026-12-06-hostile-broker.md).
 * The gate takes each accepted handle before Node wraps it, queues it (bounded), and per turn of the
 * loop lets `perTurn` through: one whose address a cap refuses is closed as a bare handle (its peer
 * address and a close: no Socket, no stream state), the rest become sockets as usual.
 *
 * It hooks the listening handle's `onconnection`, the callback Node's TCPWrap calls on every accept
 * (lib/net.js since Node 0.x, unchanged through 24). Where that hook is missing, `attach` says so and
 * the server runs ungated: the caps still hold, on sockets, as before.
 */
export function createAcceptGate(config: AcceptGateConfig, deps: AcceptGateDeps): AcceptGate {
  let stopped = false;

  function addressOf(handle: AcceptedHandle): string {
    const peer: { address?: string } = {};
    return (handle.getpeername(peer) === 0 ? normalizeAddress(peer.address) : undefined) ?? 'unknown';
  }

  const waiting = createTurnQueue<{ handle: AcceptedHandle; admit: (handle: AcceptedHandle) => void }>(config, (next) => {
    const address = addressOf(next.handle);
    const reason = deps.refusal(address);
    if (reason === undefined) {
      next.admit(next.handle);
    } else {
      next.handle.close();
      deps.refused(reason, address);
    }
  });

  return {
    attach(server) {
      const listening = (server as unknown as { _handle?: { onconnection?: OnConnection } | null })._handle;
      const original = listening?.onconnection;
      if (listening == null || typeof original !== 'function') {
        deps.logger.warn({ code: 'INGEST_ERR_WIRE_LIMIT' }, 'no accept hook in this Node: connections are capped as sockets, not before');
        return false;
      }
      const admit = (handle: AcceptedHandle) => original.call(listening, 0, handle);
      listening.onconnection = function gatedConnection(status, handle) {
        // An accept error is Node's to report (the server's 'error' event).
        if (status !== 0 || stopped) return original.call(this, status, handle);
        if (!waiting.push({ handle, admit })) {
          handle.close();
          deps.refused('accept_queue', 'unknown');
        }
      };
      return true;
    },
    stop() {
      stopped = true;
      for (const { handle } of waiting.stop()) handle.close();
    },
  };
}
