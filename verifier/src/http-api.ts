import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import {
  createTokenAuthenticator,
  decideAccess,
  DEVICE_ID_PATTERN,
  httpAppOptions,
  httpLockoutHooks,
  setUpHttpApp,
  type AccessRole,
  type AccessTokenEntry,
  type AddressGuard,
  type HttpAppConfig,
  type TokenAuthenticator,
} from '@cityops/protocol';
import { httpServerMetricHooks } from '@cityops/protocol/service-metrics';
import type { Logger } from 'pino';
import type { AuditTrailReader } from './audit-trail-reader.ts';
import { verifierErrors } from './errors.ts';
import type { ReferenceStore } from './reference-store.ts';
import { attribute, type Attribution, type Requester, type RequesterDirectory } from './requester.ts';
import type { VerificationEngine } from './verification-engine.ts';
import type { VerifierMetrics } from './verifier-metrics.ts';
import { VENUE_ID_PATTERN } from './venue-policies.ts';
import type { Verdict } from './verdict.ts';

export interface HttpApiConfig {
  readonly maxBatchItems: number;
  /** Longest QR text the body schema lets through (the decoder gives the precise reason below it). */
  readonly maxQrChars: number;
  /** Role tokens: GET /v1/audit (auditor, admin), POST /v1/verify(/batch) (venue); none: the audit route refuses everyone. */
  readonly tokens?: readonly AccessTokenEntry[];
  /** `http.limits` and `limits.exemptAddresses` (protocol's http-app-setup.ts); absent: defaults. */
  readonly limits?: HttpAppConfig['limits'];
  readonly exemptAddresses?: readonly string[];
}

export interface HttpApiDeps {
  readonly engine: VerificationEngine;
  readonly reference: ReferenceStore;
  readonly metrics: VerifierMetrics;
  readonly logger: Logger;
  readonly ready: () => boolean;
  /** The audit trail's reader (a warehouse is configured); absent: GET /v1/audit answers 503. */
  readonly auditTrail?: AuditTrailReader;
  /** The live token set (a TokenStore a file watcher replaces), consulted per request; absent: `config.tokens`, fixed. */
  readonly tokens?: TokenAuthenticator;
  /** Failed-login lockout per address on the routes with credentials: audit and verification. */
  readonly guard?: AddressGuard;
  /** Who may ask for verdicts, and at which venue (scanners from the registry, venue tokens). */
  readonly requesters: RequesterDirectory;
}

/** Who may read the verification audit trail (pseudonyms): auditors, and admins who may do anything. */
export const AUDIT_READ_ROLES = ['auditor', 'admin'] as const satisfies readonly AccessRole[];

/** The longest range one audit read may cover (31 days): a bulk export is not an audit question. */
const MAX_AUDIT_RANGE_MS = 31 * 86_400_000;

const auditQuerySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  properties: {
    venue: { type: 'string', pattern: VENUE_ID_PATTERN.source },
    /** ms since the epoch, or ISO 8601 with a zone. */
    from: { type: 'string', pattern: '^(\\d{1,15}|\\d{4}-\\d{2}-\\d{2}T[0-9:.]+(Z|[+-]\\d{2}:\\d{2}))$' },
    to: { type: 'string', pattern: '^(\\d{1,15}|\\d{4}-\\d{2}-\\d{2}T[0-9:.]+(Z|[+-]\\d{2}:\\d{2}))$' },
    /** 1–10000 (default 1000); a string: this API does not coerce types. */
    limit: { type: 'string', pattern: '^([1-9][0-9]{0,3}|10000)$' },
  },
} as const;

function parseTime(text: string, name: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw verifierErrors.VERIFIER_ERR_REQUEST_INVALID(`${name} is not a time`);
  return ms;
}

const OVERLOADED_STATUS = 503;

function itemSchema(maxQrChars: number) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['qr'],
    properties: {
      // Twice the decoder's bound: longer texts are refused by the body limit, shorter ones reach the
      // decoder, which answers MALFORMED_TOO_LARGE.
      qr: { type: 'string', minLength: 1, maxLength: maxQrChars * 2 },
      venue: { type: 'string', pattern: VENUE_ID_PATTERN.source },
    },
  } as const;
}

/**
 * The verifier's HTTP API. Verdicts are answers, not errors: a deny is 200. Only OVERLOADED on the
 * single route is a 503 (with the deny verdict as body and Retry-After), so that load balancers and
 * scanners retry elsewhere or fall back to offline verification; and THROTTLED, which like it says
 * nothing about the code, is a 429 with Retry-After (RFC 6585 §4) and the deny verdict as body.
 */
export function buildHttpApi(config: HttpApiConfig, deps: HttpApiDeps) {
  const { engine, reference, metrics } = deps;
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }, { level: 'warn' }),
    // A number is not a QR text: no type coercion of bodies.
    ajv: { customOptions: { coerceTypes: false } },
    // The server limits; each POST route has its own body limit, the others take none.
    ...httpAppOptions(config),
  });
  setUpHttpApp(app, config, {
    ...httpServerMetricHooks(metrics.http),
    codes: { invalid: 'VERIFIER_ERR_REQUEST_INVALID', request: 'VERIFIER_ERR_REQUEST_INVALID', internal: 'VERIFIER_ERR_INTERNAL', notFound: 'VERIFIER_ERR_NOT_FOUND' },
    logger: deps.logger,
  });

  const auditAuth = deps.tokens ?? createTokenAuthenticator(config.tokens ?? []);
  // Each 401 on a route with credentials counts against the address; once locked out it gets 429
  // there (verification and audit), before its credentials are looked at.
  const lockout =
    deps.guard === undefined
      ? undefined
      : httpLockoutHooks(deps.guard, {
          lockedOut: () => verifierErrors.VERIFIER_ERR_LOCKED_OUT(),
          logger: deps.logger,
          onRefused: () => metrics.addressRefused.inc(),
          onLockout: () => metrics.addressLockouts.inc(),
        });

  // Who asks, from the Authorization header alone (issue 16), in onRequest: before the body is read
  // or validated, so a stranger learns nothing and costs no parse.
  const requesters = new WeakMap<FastifyRequest, Requester>();
  const refused = (err: unknown, transport: 'http' | 'batch') => {
    metrics.requestsRefused.inc({ transport, code: (err as { code?: string }).code ?? 'VERIFIER_ERR_INTERNAL' });
    return err;
  };
  const identify = async (request: FastifyRequest) => {
    try {
      requesters.set(request, await deps.requesters.fromAuthorization(request.headers.authorization));
    } catch (err) {
      throw refused(err, request.url.startsWith('/v1/verify/batch') ? 'batch' : 'http');
    }
  };
  const verifyAccess = lockout === undefined ? { onRequest: identify } : { onRequest: [lockout.onRequest, identify], onResponse: lockout.onResponse };
  /** The request's attribution; a body naming another venue or scanner is refused (VERIFIER_ERR_VENUE_MISMATCH). */
  const attributed = (request: FastifyRequest, venues: readonly (string | undefined)[], scanner: string | undefined, transport: 'http' | 'batch'): Attribution[] => {
    const requester = requesters.get(request)!;
    try {
      if (scanner !== undefined && scanner !== requester.scanner) {
        throw verifierErrors.VERIFIER_ERR_VENUE_MISMATCH(`the request names scanner ${scanner}; it comes from ${requester.scanner ?? 'no scanner'}`);
      }
      return venues.map((venue) => attribute(requester, venue));
    } catch (err) {
      throw refused(err, transport);
    }
  };

  const item = itemSchema(config.maxQrChars);
  const scanner = { type: 'string', pattern: DEVICE_ID_PATTERN.source } as const;

  app.post(
    '/v1/verify',
    // A QR text of twice the decoder's bound, every character JSON-escaped (\uXXXX), and the ids.
    { bodyLimit: config.maxQrChars * 12 + 4096, schema: { body: { ...item, properties: { ...item.properties, scanner } } }, ...verifyAccess },
    async (request, reply) => {
      const body = request.body as { qr: string; venue?: string; scanner?: string };
      const [who] = attributed(request, [body.venue], body.scanner, 'http');
      const verdict = await engine.verify({ qr: body.qr, ...who!, transport: 'http' });
      if (verdict.reason === 'OVERLOADED') void reply.status(OVERLOADED_STATUS).header('retry-after', '1');
      if (verdict.reason === 'THROTTLED') void reply.status(429).header('retry-after', String(Math.max(1, Math.ceil((verdict.retryAfterMs ?? 0) / 1000))));
      return verdict;
    },
  );

  app.post(
    '/v1/verify/batch',
    {
      bodyLimit: Math.max(1_048_576, config.maxBatchItems * (config.maxQrChars * 2 + 512)),
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['items'],
          properties: { items: { type: 'array', items: item }, scanner },
        },
      },
      ...verifyAccess,
    },
    async (request) => {
      const body = request.body as { items: { qr: string; venue?: string }[]; scanner?: string };
      if (body.items.length > config.maxBatchItems) {
        throw verifierErrors.VERIFIER_ERR_BATCH_TOO_LARGE(`${body.items.length} items; at most ${config.maxBatchItems}`);
      }
      // Every item is checked before any is verified: a batch naming another venue records nothing.
      const who = attributed(request, body.items.map((i) => i.venue), body.scanner, 'batch');
      const results: Verdict[] = await Promise.all(body.items.map((i, n) => engine.verify({ qr: i.qr, ...who[n]!, transport: 'batch' })));
      return { results };
    },
  );

  // The verification audit trail, for auditors. The token is checked before the query is validated
  // (a stranger learns nothing about the route); every read is recorded in audit_reads first.
  const checkAuditToken = (request: FastifyRequest, _reply: FastifyReply, next: (err?: Error) => void) => {
    const decision = decideAccess(auditAuth, request.headers.authorization, AUDIT_READ_ROLES);
    if (!auditAuth.configured || decision.outcome === 'unauthenticated') {
      next(verifierErrors.VERIFIER_ERR_UNAUTHENTICATED(auditAuth.configured ? undefined : 'no tokens are configured (http.tokens): the audit trail is closed'));
    } else if (decision.outcome === 'forbidden') {
      next(verifierErrors.VERIFIER_ERR_ROLE_FORBIDDEN(`role ${decision.principal.role} may not read the audit trail`));
    } else next();
  };
  app.get(
    '/v1/audit',
    {
      schema: { querystring: auditQuerySchema },
      onRequest: lockout === undefined ? checkAuditToken : [lockout.onRequest, checkAuditToken],
      ...(lockout === undefined ? {} : { onResponse: lockout.onResponse }),
    },
    async (request) => {
      const q = request.query as { venue?: string; from: string; to: string; limit?: string };
      const from = parseTime(q.from, 'from');
      const to = parseTime(q.to, 'to');
      if (to <= from || to - from > MAX_AUDIT_RANGE_MS) throw verifierErrors.VERIFIER_ERR_REQUEST_INVALID('from must be before to, at most 31 days apart');
      if (deps.auditTrail === undefined) throw verifierErrors.VERIFIER_ERR_AUDIT_UNAVAILABLE('this verifier keeps no audit trail (no warehouse)');
      const reader = auditAuth.authenticate(request.headers.authorization)!;
      try {
        const rows = await deps.auditTrail.read({ venue: q.venue, from, to, limit: Number(q.limit ?? 1000) }, reader, request.ip);
        return { rows };
      } catch (err) {
        request.log.error({ err }, 'audit trail read failed');
        throw verifierErrors.VERIFIER_ERR_AUDIT_UNAVAILABLE(undefined, err);
      }
    },
  );

  // The scanners' offline copy of the revocation lists (bloom-filter.ts format), cached by version.
  app.get('/v1/revocation/filter', async (request, reply) => {
    const revocation = reference.current().revocation;
    const etag = `"revocation-${revocation.version}"`;
    if (request.headers['if-none-match'] === etag) return reply.status(304).send();
    return reply.header('etag', etag).type('application/octet-stream').send(revocation.filter().toBytes());
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = deps.ready();
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });

  return app;
}
