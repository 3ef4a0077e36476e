import type { KeyObject } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { Encoder, Tag } from 'cbor-x';
import { COSE_ALG_IDS, encodeBase45, sigStructure, type CodeAlg } from '@cityops/protocol';
import { constants, sign } from 'node:crypto';

/**
 * Builds codes layer by layer, each layer replaceable, so a test can break exactly one of them
 * and still carry a real signature over whatever it built.
 */
export const cborEncoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });

export const encode = (value: unknown): Buffer => cborEncoder.encode(value);

export interface CraftParts {
  readonly prefix?: string;
  readonly alg?: CodeAlg;
  readonly key: KeyObject;
  readonly kid?: Buffer;
  /** A header map, or the raw protected bytes. */
  readonly protectedHeader?: Map<unknown, unknown> | Buffer;
  readonly unprotected?: unknown;
  /** A claims map, or the raw payload bytes, or null (detached). */
  readonly claims: Map<unknown, unknown> | Buffer | null;
  /** Sign with this algorithm's function (default: `alg`). */
  readonly signAs?: CodeAlg;
  readonly signature?: Buffer;
  /** Outer tags, outermost first; default [18]. */
  readonly tags?: readonly number[];
  /** Replace the COSE array (after signing). */
  readonly message?: (parts: unknown[]) => unknown;
  readonly compress?: boolean;
}

function signWith(alg: CodeAlg, key: KeyObject, data: Buffer): Buffer {
  if (alg === 'ES256') return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA') return sign(null, data, key);
  return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
}

export function craftMessage(parts: CraftParts): Buffer {
  const alg = parts.alg ?? 'ES256';
  const kid = parts.kid ?? Buffer.from('0123456789abcdef', 'hex');
  const header = parts.protectedHeader ?? new Map<unknown, unknown>([[1, COSE_ALG_IDS[alg]], [4, kid]]);
  const protectedBytes = Buffer.isBuffer(header) ? header : encode(header);
  const payload = parts.claims === null ? null : Buffer.isBuffer(parts.claims) ? parts.claims : encode(parts.claims);
  const signature = parts.signature ?? signWith(parts.signAs ?? alg, parts.key, sigStructure(protectedBytes, payload ?? Buffer.alloc(0)));
  const array: unknown[] = [protectedBytes, parts.unprotected ?? new Map(), payload, signature];
  let message: unknown = parts.message === undefined ? array : parts.message(array);
  for (const tag of [...(parts.tags ?? [18])].reverse()) message = new Tag(message, tag);
  return encode(message);
}

export function craft(parts: CraftParts): string {
  const prefix = parts.prefix ?? 'CHC1:';
  const message = craftMessage(parts);
  return prefix + encodeBase45(parts.compress ?? prefix === 'HC1:' ? deflateSync(message) : message);
}

/** The payload bytes under a prefix, compressed or not: for the layers below COSE. */
export function wrap(prefix: string, bytes: Buffer, compress: boolean): string {
  return prefix + encodeBase45(compress ? deflateSync(bytes) : bytes);
}

const T = 1_768_464_000; // 2026-01-15T08:00:00Z

/** Valid health code claims; `change` edits the map before it is signed. */
export function healthClaims(change?: (m: Map<unknown, unknown>) => void): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>([
    [1, 'cityops-test'],
    [2, 'p-1'],
    [4, T + 3600],
    [6, T],
    [7, Buffer.from('0102030405060708', 'hex')],
    [-65537, new Map<unknown, unknown>([[1, 0]])],
  ]);
  change?.(m);
  return m;
}

export function siteClaims(change?: (m: Map<unknown, unknown>) => void): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>([
    [1, 'huangpu-office'],
    [2, 'venue-1'],
    [4, T + 86400],
    [6, T],
    [7, Buffer.from('0a0b0c0d', 'hex')],
    [-65538, new Map<unknown, unknown>([[1, 'huangpu/nanjing-east/grid-07'], [2, 1]])],
  ]);
  change?.(m);
  return m;
}

export function dccClaims(payload: unknown, change?: (m: Map<unknown, unknown>) => void): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>([
    [1, 'XA'],
    [4, T + 86400 * 365],
    [6, T],
    [-260, new Map<unknown, unknown>([[1, payload]])],
  ]);
  change?.(m);
  return m;
}
