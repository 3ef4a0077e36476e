import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';

/** The trust-list formats read (see read-trust-list.ts). `auto` tells them apart by content. */
export const TRUST_LIST_FORMATS = ['auto', 'cityops', 'dcc-gateway', 'national'] as const;
export type TrustListFormat = (typeof TRUST_LIST_FORMATS)[number];

/** A certificate or key in configuration: PEM, or base64 of the DER. */
const keyText = { type: 'string', minLength: 16, maxLength: 65_536 } as const;

/**
 * What a trust source is checked with, beside its `source` (the verifier's `trust` and the
 * scanner's `reference.trust`): the list signer of a national backend, the EU DCC Gateway trust
 * anchor(s) that sign the entries, and CSCAs every DSC must chain to.
 */
export const trustCheckProperties = {
  /** Default `auto`: detected from the content. */
  format: { enum: TRUST_LIST_FORMATS, default: 'auto' },
  /** The national list's signing key: with it, only a national list whose signature verifies is taken. */
  signer: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    properties: { publicKey: keyText, certificate: keyText },
  },
  /** Gateway trust anchors: with them, every entry's CMS signature is checked (CSCA/UPLOAD by an anchor, DSC by its country's UPLOAD). */
  anchors: { type: 'array', minItems: 1, maxItems: 16, items: keyText },
  /** CSCAs besides those in the list: with any CSCA known, every DSC must be issued by one of its country. */
  cscas: { type: 'array', minItems: 1, maxItems: 1024, items: keyText },
} as const;

export interface TrustCheckConfig {
  readonly format?: TrustListFormat | undefined;
  readonly signer?: { readonly publicKey?: string | undefined; readonly certificate?: string | undefined } | undefined;
  readonly anchors?: readonly string[] | undefined;
  readonly cscas?: readonly string[] | undefined;
}

/** The configuration parsed once: keys and certificates as node:crypto objects. */
export interface TrustChecks {
  readonly format: TrustListFormat;
  readonly signer?: KeyObject;
  readonly anchors: readonly X509Certificate[];
  readonly cscas: readonly X509Certificate[];
}

function derOf(text: string): Buffer {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    const body = trimmed.replace(/-----(BEGIN|END)[^-]*-----/g, '').replace(/\s+/g, '');
    return Buffer.from(body, 'base64');
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new Error('neither PEM nor base64');
  return Buffer.from(trimmed, 'base64');
}

export function parseCertificateText(text: string): X509Certificate {
  return new X509Certificate(derOf(text));
}

function parseSigner(signer: NonNullable<TrustCheckConfig['signer']>): KeyObject {
  const key = signer.certificate !== undefined ? parseCertificateText(signer.certificate).publicKey : createPublicKey({ key: derOf(signer.publicKey ?? ''), format: 'der', type: 'spki' });
  // The national lists are signed with ECDSA over SHA-256 (cwa-server DscListDecoder, covpass DscListDecoder).
  if (key.asymmetricKeyType !== 'ec') throw new Error(`a ${key.asymmetricKeyType ?? 'secret'} key; national lists are signed with ECDSA`);
  return key;
}

/** Parses the key material; every problem is named with its path, all together. */
export function compileTrustChecks(config: TrustCheckConfig, path: string): { checks?: TrustChecks; problems: string[] } {
  const problems: string[] = [];
  const attempt = <T>(where: string, parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (err) {
      problems.push(`${path}/${where}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const signer = config.signer === undefined ? undefined : attempt('signer', () => parseSigner(config.signer!));
  const anchors = (config.anchors ?? []).map((text, i) => attempt(`anchors/${i}`, () => parseCertificateText(text)));
  const cscas = (config.cscas ?? []).map((text, i) => attempt(`cscas/${i}`, () => parseCertificateText(text)));
  const format = config.format ?? 'auto';
  if (signer !== undefined && format !== 'auto' && format !== 'national') problems.push(`${path}/signer: only a national list is signed as a whole (format is ${format})`);
  if (problems.length > 0) return { problems };
  return {
    problems,
    checks: Object.freeze({
      format,
      ...(signer === undefined ? {} : { signer }),
      anchors: anchors as X509Certificate[],
      cscas: cscas as X509Certificate[],
    }),
  };
}

export const NO_TRUST_CHECKS: TrustChecks = Object.freeze({ format: 'auto', anchors: [], cscas: [] });
