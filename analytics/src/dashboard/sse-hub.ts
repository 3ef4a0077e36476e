import type { ServerResponse } from 'node:http';

export interface SseHubOptions {
  readonly maxClients: number;
  /** Bytes a client's socket has not taken yet; past this it is dropped, never waited for. */
  readonly maxBufferedBytes: number;
  readonly heartbeatMs: number;
}

export interface SseHubCounters {
  onDrop?(reason: 'slow' | 'closed'): void;
}

export interface SseHub {
  /**
   * Takes over the response (headers written); false when the hub is full. `accepts`: which
   * broadcasts this client may see (its viewer's role); absent: all.
   */
  add(res: ServerResponse, first?: readonly SseMessage[], accepts?: (message: SseMessage) => boolean): boolean;
  /** Frames the message once and writes it to every client that accepts it. */
  broadcast(message: SseMessage): void;
  clients(): number;
  /** Ends every stream; later adds are refused. */
  close(): void;
}

export interface SseMessage {
  readonly event: string;
  readonly data: unknown;
}

/** `event:` and one `data:` line (JSON has no raw newlines): WHATWG HTML §9.2 event stream format. */
export function frameSse(message: SseMessage): string {
  return `event: ${message.event}\ndata: ${JSON.stringify(message.data)}\n\n`;
}

/**
 * Server-sent event clients with bounded buffering. A write the socket cannot take stays in Node's
 * writable buffer; `writableLength` is that backlog, and a client whose backlog passes the bound is
 * destroyed: a slow page is dropped (it reconnects and gets a fresh snapshot), never waited for.
 */
export function createSseHub(options: SseHubOptions, counters: SseHubCounters = {}): SseHub {
  const clients = new Map<ServerResponse, ((message: SseMessage) => boolean) | undefined>();
  let closed = false;

  const heartbeat = setInterval(() => send(': keep-alive\n\n'), options.heartbeatMs);
  heartbeat.unref();

  function drop(res: ServerResponse, reason: 'slow' | 'closed') {
    if (!clients.delete(res)) return;
    counters.onDrop?.(reason);
    if (reason === 'slow') res.destroy();
  }

  function write(res: ServerResponse, frame: string) {
    if (res.writableLength + Buffer.byteLength(frame) > options.maxBufferedBytes) {
      drop(res, 'slow');
      return;
    }
    res.write(frame);
  }

  function send(frame: string, message?: SseMessage) {
    for (const [res, accepts] of clients) if (message === undefined || accepts === undefined || accepts(message)) write(res, frame);
  }

  return {
    add(res, first = [], accepts = undefined) {
      if (closed || clients.size >= options.maxClients) return false;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      clients.set(res, accepts);
      res.on('close', () => drop(res, 'closed'));
      // The browser reconnects after this many ms when the stream breaks (WHATWG HTML §9.2.6 `retry`).
      write(res, 'retry: 2000\n\n');
      for (const message of first) write(res, frameSse(message));
      return true;
    },
    broadcast(message) {
      if (clients.size === 0) return;
      send(frameSse(message), message);
    },
    clients: () => clients.size,
    close() {
      closed = true;
      clearInterval(heartbeat);
      for (const res of [...clients.keys()]) {
        clients.delete(res);
        res.end();
      }
    },
  };
}
