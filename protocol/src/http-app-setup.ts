import type { Server as HttpServer, ServerOptions } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { LOOPBACK_ADDRESSES } from './address-limits-schema.ts';
import { DEFAULT_BODY_LIMIT_BYTES, httpReplies, type HttpRepliesDeps, type HttpReplyCodes } from './http-replies.ts';
import {
  applyHttpServerLimits,
  defaultHttpServerLimits,
  httpServerOptions,
  type HttpServerGuard,
  type HttpServerLimits,
  type HttpServerLimitsDeps,
} from './http-server-limits.ts';

/** A service's HTTP server configuration: `http.limits`, the exempt addresses, TLS. */
export interface HttpAppConfig {
  /** Absent: the schema's defaults. */
  readonly limits?: HttpServerLimits;
  /** The service's `limits.exemptAddresses`; absent: loopback. */
  readonly exemptAddresses?: readonly string[];
  /** Routes naming no limit of their own take at most this; absent: DEFAULT_BODY_LIMIT_BYTES. */
  readonly bodyLimit?: number;
  /** PEM text; present: HTTPS only. */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca?: string };
}

/** The fastify app as the set-up uses it (protocol does not depend on fastify; fastify's instance fits). */
interface HttpApp {
  readonly server: HttpServer | HttpsServer;
  setErrorHandler(handler: ReturnType<typeof httpReplies>['errorHandler']): unknown;
  setNotFoundHandler(handler: ReturnType<typeof httpReplies>['notFoundHandler']): unknown;
  addHook(name: 'onRequest', hook: ReturnType<typeof httpReplies>['refuseBodyOnReads']): unknown;
}

export type HttpAppDeps = HttpRepliesDeps &
  Pick<HttpServerLimitsDeps, 'logger' | 'onRefused' | 'onOpen'> & {
    readonly codes: HttpReplyCodes;
    readonly now?: () => number;
  };

/** The options of `Fastify({...})` that the limits set: the default body limit and node's server options. */
export function httpAppOptions(config: HttpAppConfig = {}): { bodyLimit: number; http?: ServerOptions; https?: ServerOptions & { key: string; cert: string; ca?: string } } {
  const server = httpServerOptions(config.limits ?? defaultHttpServerLimits());
  const bodyLimit = config.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES;
  return config.tls === undefined ? { bodyLimit, http: server } : { bodyLimit, https: { ...config.tls, ...server } };
}

/**
 * The set-up every service's fastify app shares, after `Fastify(httpAppOptions(config))`: the server
 * limits on `app.server`, coded error and not-found answers, and no body on GET, HEAD and DELETE
 * (installed first, before any route's hooks).
 */
export function setUpHttpApp(app: HttpApp, config: HttpAppConfig, deps: HttpAppDeps): HttpServerGuard {
  const replies = httpReplies(deps.codes, deps);
  app.setErrorHandler(replies.errorHandler);
  app.setNotFoundHandler(replies.notFoundHandler);
  app.addHook('onRequest', replies.refuseBodyOnReads);
  return applyHttpServerLimits(app.server, config.limits ?? defaultHttpServerLimits(), {
    exemptAddresses: config.exemptAddresses ?? LOOPBACK_ADDRESSES,
    logger: deps.logger,
    now: deps.now ?? Date.now,
    onRefused: deps.onRefused,
    ...(deps.onOpen === undefined ? {} : { onOpen: deps.onOpen }),
  });
}
