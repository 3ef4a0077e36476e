import type { AddressGuard } from './address-guard.ts';
import type { CityopsError } from './errors.ts';

/** The parts of a fastify request and reply the hooks use (protocol does not depend on fastify). */
interface LockoutRequest {
  readonly ip: string;
}
interface LockoutReply {
  readonly statusCode: number;
  status(code: number): LockoutReply;
  header(name: string, value: string): LockoutReply;
  send(body: unknown): unknown;
}

export interface HttpLockoutDeps {
  /** The service's 429 error (e.g. ANALYTICS_ERR_LOCKED_OUT); its code also names the lockout in the log. */
  readonly lockedOut: () => CityopsError;
  /** Where a lockout is logged (a warning with the address and the code). */
  readonly logger: { warn(fields: object, message: string): void };
  /** A request refused because its address is locked out (count it). */
  readonly onRefused?: () => void;
  /** A failure that started a lockout (count it). */
  readonly onLockout?: () => void;
}

/**
 * Failed-login lockout around HTTP routes, as fastify `onRequest`/`onResponse` hooks: a locked-out
 * address gets 429 with Retry-After before its credentials are looked at, and every 401 answered
 * counts as a failure. Around the routes rather than inside them, so no route can forget it.
 */
export function httpLockoutHooks(guard: AddressGuard, deps: HttpLockoutDeps) {
  // fastify takes a hook that returns a promise as async (one that does not must call `done`); an
  // async hook ends the request by answering and resolving to the reply.
  return {
    onRequest: (request: LockoutRequest, reply: LockoutReply): Promise<LockoutReply | undefined> => {
      const ms = guard.lockedOutFor(request.ip);
      if (ms === 0) return Promise.resolve(undefined);
      deps.onRefused?.();
      const error = deps.lockedOut();
      reply.status(429).header('retry-after', String(Math.ceil(ms / 1000))).send({ code: error.code, message: error.message });
      return Promise.resolve(reply);
    },
    onResponse: (request: LockoutRequest, reply: LockoutReply): Promise<void> => {
      if (reply.statusCode === 401 && guard.recordFailure(request.ip)) {
        deps.onLockout?.();
        deps.logger.warn({ address: request.ip, code: deps.lockedOut().code }, 'address locked out after repeated failed logins');
      }
      return Promise.resolve();
    },
  };
}
