import { authenticateCode, type Authentication, type CodeDecoder } from './authenticate-code.ts';
import { judgeCode, type JudgeOptions } from './judge-code.ts';
import type { VerificationContext } from './verification-context.ts';
import type { Verdict } from './verdict.ts';

export interface VerifyCodeOptions extends JudgeOptions {
  readonly venue?: string | undefined;
  /** The clock for this verification, ms since the epoch. */
  readonly now: number;
  readonly pseudonymKey?: string | undefined;
}

export interface VerifiedCode {
  readonly verdict: Verdict;
  /** What the audit trail needs (pseudonym, issuer); never the subject. */
  readonly authentication: Authentication;
}

/**
 * The whole verification on the calling thread, synchronously: the core the CLI runs, and what the
 * service runs when the pool is off. The service with a pool runs the same two halves, the first
 * in a worker (authenticate-code.ts) and the second here (judge-code.ts).
 */
export function verifyCode(qr: string, context: VerificationContext, decoder: CodeDecoder, options: VerifyCodeOptions): VerifiedCode {
  const authentication = authenticateCode(qr, context.trust, decoder, options.pseudonymKey);
  return { verdict: judgeCode(authentication, context, options.venue, options.now, options), authentication };
}
