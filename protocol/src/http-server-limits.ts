import { STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerOptions } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FromSchema } from 'json-schema-to-ts';
import { normalizeAddress } from './address-guard.ts';
import { createConnectionCaps, type ConnectionRefusal } from './connection-caps.ts';
import { httpErrors } from './errors.ts';
import { createLogThrottle } from './log-throttle.ts';
import { compileSchemaCheck } from './schema-check.ts';

/**
 * `http.limits` of every service with an HTTP API: what a client without credentials can hold.
 * Per-address caps leave the service's `limits.exemptAddresses` alone (loopback by default), the
 * same list as the failed-login lockout: a local proxy is everyone's address for both.
 */
export const httpServerLimitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    /** Request line and headers must be complete by then (slowloris); an idle new connection too. */
    headersTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000, default: 10000 },
    /** The whole request (body included) by then. A response may take longer: SSE streams are not cut. */
    requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 30000 },
    /** An idle keep-alive connection is closed after this (Node's default; undici/fetch clients close theirs at 4 s). */
    keepAliveTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
    /**
     * Request line (so URL and query string) and headers together, in bytes: beyond, 431 (Node's
     * maxHeaderSize: the URL, header names and values are counted, not the separators).
     */
    maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 16384 },
    /** Headers beyond this count are dropped, not parsed into the request (Node's maxHeadersCount). */
    maxHeadersCount: { type: 'integer', minimum: 16, maximum: 2000, default: 100 },
    /** Open connections from one address, counted at accept (keep-alive and event streams included). */
    maxConnectionsPerAddress: { type: 'integer', minimum: 1, default: 64 },
    /** Open connections over all addresses. */
    maxConnections: { type: 'integer', minimum: 1, default: 1024 },
    /** A refused address is logged at most once per interval. */
    logIntervalMs: { type: 'integer', minimum: 0, default: 60000 },
  },
} as const;

export type HttpServerLimits = FromSchema<typeof httpServerLimitsSchema>;

/** The schema's defaults (a server built without configuration, as in tests, is limited too). */
export function defaultHttpServerLimits(): HttpServerLimits {
  const limits = {};
  compileSchemaCheck(httpServerLimitsSchema, { useDefaults: true })(limits);
  return limits as HttpServerLimits;
}

/** What the schema cannot say; `pointer` names the section (e.g. `/http/limits`). */
export function httpServerLimitsProblems(limits: HttpServerLimits, pointer: string): string[] {
  return limits.headersTimeoutMs > limits.requestTimeoutMs ? [`${pointer}/headersTimeoutMs must not exceed requestTimeoutMs`] : [];
}

/**
 * Node checks the two timeouts on a timer, not per socket: a slow client is cut within one check
 * after its deadline. A quarter of the shorter timeout, between 50 ms and 1 s.
 */
function checkIntervalMs(limits: HttpServerLimits): number {
  return Math.min(1000, Math.max(50, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)));
}

/**
 * The options node's http(s).createServer alone takes (fastify: `http`, or merged into `https`).
 * `handshakeTimeout` (TLS only; Node's default 120 s) is the headers deadline too: a socket that never
 * starts its handshake holds its slot no longer than one that never sends a header.
 */
export function httpServerOptions(limits: HttpServerLimits): ServerOptions & { handshakeTimeout: number } {
  return {
    handshakeTimeout: limits.headersTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkIntervalMs(limits),
  };
}

export type HttpRefusalReason = ConnectionRefusal | 'headers_timeout' | 'request_timeout' | 'headers_too_large' | 'malformed' | 'tls_timeout' | 'tls_failed';

export interface HttpServerLimitsDeps {
  /** The service's `limits.exemptAddresses`. */
  readonly exemptAddresses: readonly string[];
  readonly logger: { warn(fields: object, message: string): void };
  readonly now: () => number;
  /** A connection closed by the limits (count it by reason). */
  readonly onRefused: (reason: HttpRefusalReason) => void;
  /** Open connections now, after each accept and close (a gauge). */
  readonly onOpen?: (open: number) => void;
}

export interface HttpServerGuard {
  open(): number;
  openFrom(address: string): number;
}

const ANSWERS: Partial<Record<HttpRefusalReason, () => Error & { code: string; statusCode: number }>> = {
  headers_timeout: () => httpErrors.HTTP_ERR_TIMEOUT('the request line and headers'),
  request_timeout: () => httpErrors.HTTP_ERR_TIMEOUT('the request body'),
  headers_too_large: () => httpErrors.HTTP_ERR_HEADERS_TOO_LARGE(),
  malformed: () => httpErrors.HTTP_ERR_MALFORMED(),
};

function reasonOf(err: Error & { code?: string }, request: IncomingMessage | undefined): HttpRefusalReason | undefined {
  const code = err.code ?? '';
  // Node raises the same error for both deadlines; a request whose headers arrived is in its body.
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return request !== undefined && !request.complete ? 'request_timeout' : 'headers_timeout';
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (code.startsWith('HPE_')) return 'malformed';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'tls_timeout';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || 'library' in err) return 'tls_failed';
  return undefined;
}

/** Writes the refusal unless a response is already under way on the socket (as Node's own handler does). */
function answer(socket: Duplex, reason: HttpRefusalReason): void {
  const error = ANSWERS[reason]?.();
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error === undefined || !socket.writable || inFlight?.headersSent === true) return;
  const body = JSON.stringify({ code: error.code, message: error.message });
  socket.write(
    `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Applies `limits` to a node HTTP(S) server (fastify's `app.server`), before it listens: the
 * timeouts (again after the framework, which sets its own keep-alive and request timeouts), and a cap
 * on open connections per address and in total, counted at 'connection' (over TLS: the raw TCP socket,
 * before a handshake). Client errors (a deadline passed, headers too large, garbage) are answered
 * with a coded JSON refusal and counted; each refused address is logged once per interval.
 */
export function applyHttpServerLimits(server: HttpServer | HttpsServer, limits: HttpServerLimits, deps: HttpServerLimitsDeps): HttpServerGuard {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxHeadersCount = limits.maxHeadersCount;
  const caps = createConnectionCaps({ maxPerAddress: limits.maxConnectionsPerAddress, maxTotal: limits.maxConnections, exemptAddresses: deps.exemptAddresses });
  const logNow = createLogThrottle({ intervalMs: limits.logIntervalMs, now: deps.now });
  // The last request seen on each socket: tells a body's deadline from the headers'.
  const lastRequest = new WeakMap<object, IncomingMessage>();

  function refused(address: string, reason: HttpRefusalReason, code: string): void {
    deps.onRefused(reason);
    if (logNow(address)) deps.logger.warn({ address, code, reason }, 'HTTP connection closed by http.limits');
  }

  // Before the HTTP (or TLS) listener: a socket beyond a cap is gone before a byte of it is parsed.
  server.prependListener('connection', (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress) ?? 'unknown';
    const refusal = caps.refusal(address);
    if (refusal !== undefined) {
      refused(address, refusal, 'HTTP_ERR_CONNECTION_REFUSED');
      socket.destroy();
      return;
    }
    caps.count(socket, address);
    deps.onOpen?.(caps.open());
    socket.once('close', () => deps.onOpen?.(caps.open()));
  });
  server.on('request', (request: IncomingMessage) => lastRequest.set(request.socket, request));
  // First of the 'clientError' listeners: fastify's own (uncoded) answer then finds the socket destroyed.
  server.prependListener('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const reason = reasonOf(err, lastRequest.get(socket));
    if (reason !== undefined && !socket.destroyed) {
      const address = normalizeAddress((socket as Partial<Socket>).remoteAddress) ?? 'unknown';
      refused(address, reason, ANSWERS[reason]?.().code ?? 'HTTP_ERR_MALFORMED');
      answer(socket, reason);
    }
    socket.destroy();
  });
  return { open: () => caps.open(), openFrom: (address) => caps.openFrom(address) };
}
