import { httpErrors, isCityopsError } from './errors.ts';

/** A route that names no limit of its own takes a body of at most this (admin and alert bodies are a few KiB). */
export const DEFAULT_BODY_LIMIT_BYTES = 65_536;

/** The parts of a fastify request and reply the handlers use (protocol does not depend on fastify). */
interface RepliedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly log: { error(fields: object, message: string): void };
  readonly routeOptions?: { readonly bodyLimit?: number };
}
interface Reply {
  status(code: number): Reply;
  send(body: unknown): unknown;
}
type HandledError = Error & { code?: string; statusCode?: number; validation?: unknown };

/** A service's codes for what is not a CityopsError (e.g. INGEST_ERR_QUERY_INVALID). */
export interface HttpReplyCodes {
  /** A body, query or parameter that fails its schema (400). */
  readonly invalid: string;
  /** Another 4xx from the framework without a code of ours (415, a JSON syntax error). */
  readonly request: string;
  readonly internal: string;
  readonly notFound: string;
}

export interface HttpRepliesDeps {
  /** Each answer of the service's own: a CityopsError, a schema failure, an internal error (by code). */
  readonly onServiceError?: (code: string) => void;
  /** A body refused: over the route's limit, or sent to a route that takes none (count it). */
  readonly onBodyRefused?: (reason: 'body_too_large' | 'body_not_allowed') => void;
}

/** GET, HEAD and DELETE routes take no body (RFC 9110 §9.3.1: content of a GET has no defined meaning). */
const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE']);

/**
 * The error, not-found and body handlers every service's fastify app installs, so each refusal
 * answers `{ code, message }` the same way: `setErrorHandler(errorHandler)`,
 * `setNotFoundHandler(notFoundHandler)` and `addHook('onRequest', refuseBodyOnReads)` first.
 */
export function httpReplies(codes: HttpReplyCodes, deps: HttpRepliesDeps = {}) {
  const tooLarge = (reply: Reply, reason: 'body_too_large' | 'body_not_allowed', limit: number | undefined) => {
    deps.onBodyRefused?.(reason);
    const error = httpErrors.HTTP_ERR_BODY_TOO_LARGE(limit === undefined ? undefined : `at most ${limit} bytes`);
    return reply.status(413).send({ code: error.code, message: error.message });
  };
  return {
    errorHandler: (err: HandledError, request: RepliedRequest, reply: Reply) => {
      if (isCityopsError(err)) {
        deps.onServiceError?.(err.code);
        if (err.statusCode >= 500) request.log.error({ err }, 'request failed');
        return reply.status(err.statusCode).send({ code: err.code, message: err.message });
      }
      if (err.validation !== undefined) {
        deps.onServiceError?.(codes.invalid);
        return reply.status(400).send({ code: codes.invalid, message: err.message });
      }
      // Read up to the route's limit and no further; Node discards the rest, within requestTimeoutMs.
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return tooLarge(reply, 'body_too_large', request.routeOptions?.bodyLimit);
      if (err.statusCode !== undefined && err.statusCode < 500) {
        return reply.status(err.statusCode).send({ code: err.code ?? codes.request, message: err.message });
      }
      request.log.error({ err }, 'request failed');
      deps.onServiceError?.(codes.internal);
      return reply.status(500).send({ code: codes.internal, message: 'Internal error' });
    },
    // fastify's own 404 has no code; an id with a '/' (unencoded) lands here too.
    notFoundHandler: (request: RepliedRequest, reply: Reply) =>
      reply.status(404).send({ code: codes.notFound, message: `No route ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}` }),
    /** An onRequest hook: a body on a route that reads none is refused before any route hook runs. */
    refuseBodyOnReads: (request: RepliedRequest, reply: Reply): Promise<unknown> => {
      if (!NO_BODY_METHODS.has(request.method)) return Promise.resolve(undefined);
      const length = request.headers['content-length'];
      const chunked = request.headers['transfer-encoding'] !== undefined;
      if (!chunked && (length === undefined || length === '0')) return Promise.resolve(undefined);
      tooLarge(reply, 'body_not_allowed', 0);
      return Promise.resolve(reply);
    },
  };
}
