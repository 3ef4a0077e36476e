import { CODE_ALGS, type CodeAlg, type CodeKind } from './code-types.ts';
import type { CoseReadRules } from './cose-sign1.ts';
import { DCC_PREFIX } from './dcc-payload.ts';
import { HEALTH_CODE_PREFIX } from './health-code.ts';
import { LICENCE_CODE_PREFIX } from './licence-code.ts';
import { SITE_CODE_PREFIX } from './site-code.ts';

/** How each kind travels: its context identifier, whether zlib is required, and its COSE rules. */
export interface CodeFormat {
  readonly kind: CodeKind;
  readonly prefix: string;
  /** HCERT §4.2.1: the CWT SHALL be compressed; our own codes are compressed only when that is shorter. */
  readonly zlib: 'required' | 'when-shorter';
  readonly cose: CoseReadRules;
}

/** HCERT §3.2.2: ES256 primary, PS256 secondary; EdDSA is not an HCERT algorithm. */
export const DCC_ALGS: readonly CodeAlg[] = ['ES256', 'PS256'];

export const CODE_FORMATS: readonly CodeFormat[] = Object.freeze([
  { kind: 'eu-dcc', prefix: DCC_PREFIX, zlib: 'required', cose: { requireTag: false, allowCwtTag: true, algMayBeUnprotected: true, algs: DCC_ALGS } },
  { kind: 'health-code', prefix: HEALTH_CODE_PREFIX, zlib: 'when-shorter', cose: { requireTag: true, allowCwtTag: false, algMayBeUnprotected: false, algs: CODE_ALGS } },
  { kind: 'site-code', prefix: SITE_CODE_PREFIX, zlib: 'when-shorter', cose: { requireTag: true, allowCwtTag: false, algMayBeUnprotected: false, algs: CODE_ALGS } },
  { kind: 'licence', prefix: LICENCE_CODE_PREFIX, zlib: 'when-shorter', cose: { requireTag: true, allowCwtTag: false, algMayBeUnprotected: false, algs: CODE_ALGS } },
]);

export function formatOf(kind: CodeKind): CodeFormat {
  return CODE_FORMATS.find((f) => f.kind === kind)!;
}

/** The algorithms a kind may be signed with. */
export function algsFor(kind: CodeKind): readonly CodeAlg[] {
  return formatOf(kind).cose.algs;
}
