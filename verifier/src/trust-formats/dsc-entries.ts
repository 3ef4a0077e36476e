import { createHash, X509Certificate } from 'node:crypto';
import type { FromSchema } from 'json-schema-to-ts';
import type { TrustFileEntry } from '../trust-list.ts';
import { verifyCmsSignature } from './cms-signature.ts';
import type { TrustCheckMemo } from './trust-check-memo.ts';
import type { TrustChecks } from './trust-material.ts';

const base64 = '^[A-Za-z0-9+/]+={0,2}$';

/**
 * One entry of the EU DCC Gateway trust list (`GET /trustList`, `/trustList/DSC`; dgc-gateway
 * TrustListDto) and of the national lists that pass the gateway's entries on (`certificates` of
 * de.dscg.ubirch.com/trustList/DSC). `rawData` is base64 DER X.509; `thumbprint` its SHA-256 in
 * hex; `kid` the first 8 bytes of that, base64 (HCERT A.1); `signature` a CMS SignedData over rawData
 * by the trust anchor (CSCA, UPLOAD, AUTHENTICATION) or the country's UPLOAD certificate (DSC).
 * A revoked DSC stays listed with rawData and signature null (dgc-gateway TrustListService).
 */
export const dscEntrySchema = {
  type: 'object',
  required: ['kid', 'country', 'certificateType', 'thumbprint', 'rawData'],
  properties: {
    kid: { type: 'string', minLength: 1, maxLength: 64, pattern: base64 },
    timestamp: { type: 'string', maxLength: 64 },
    country: { type: 'string', pattern: '^[A-Z]{2}$' },
    certificateType: { enum: ['DSC', 'UPLOAD', 'CSCA', 'AUTHENTICATION'] },
    thumbprint: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
    signature: { type: ['string', 'null'], maxLength: 65_536, pattern: base64 },
    rawData: { type: ['string', 'null'], minLength: 1, maxLength: 65_536, pattern: base64 },
  },
} as const;

export type DscEntry = FromSchema<typeof dscEntrySchema>;

interface Parsed {
  readonly entry: DscEntry;
  readonly index: number;
  readonly der: Buffer;
  /** SHA-256 of der, hex: the memo's key. */
  readonly thumbprint: string;
  readonly certificate: X509Certificate;
}

/** The subject's C, when it has one (the gateway refuses an upload whose C is not the uploader's). */
function subjectCountry(certificate: X509Certificate): string | undefined {
  return /(?:^|\n)C=([A-Z]{2})(?:\n|$)/.exec(certificate.subject)?.[1];
}

interface Authority {
  readonly country?: string;
  readonly certificate: X509Certificate;
}

function issuedBy(item: Parsed, ca: Authority, memo: TrustCheckMemo): boolean {
  return memo.remember(`issued:${item.thumbprint}:${ca.certificate.fingerprint256}`, () => item.certificate.checkIssued(ca.certificate) && item.certificate.verify(ca.certificate.publicKey));
}

/** Decodes rawData and checks the thumbprint and kid it must have; throws saying which does not hold. */
function parseEntry(entry: DscEntry, index: number, memo: TrustCheckMemo): Parsed {
  const der = Buffer.from(entry.rawData!, 'base64');
  const digest = createHash('sha256').update(der).digest();
  const thumbprint = digest.toString('hex');
  if (thumbprint !== entry.thumbprint.toLowerCase()) throw new Error('thumbprint is not the SHA-256 of rawData');
  if (Buffer.from(entry.kid, 'base64').toString('base64') !== digest.subarray(0, 8).toString('base64')) throw new Error('kid is not the first 8 bytes of the SHA-256 of rawData');
  const certificate = memo.remember(`x509:${thumbprint}`, () => new X509Certificate(der));
  return { entry, index, der, thumbprint, certificate };
}

function signerOf(item: Parsed, memo: TrustCheckMemo): X509Certificate {
  const signature = item.entry.signature;
  if (signature === undefined || signature === null) throw new Error('no signature');
  return memo.remember(`cms:${item.thumbprint}:${signature}`, () => verifyCmsSignature(signature, item.der));
}

const isAnchor = (signer: X509Certificate, anchors: readonly X509Certificate[]) => anchors.some((a) => a.raw.equals(signer.raw));

export interface DscListOutcome {
  readonly entries: TrustFileEntry[];
  /** The certificate of each entry, parsed here, so the snapshot does not parse it again. */
  readonly certificates: ReadonlyMap<TrustFileEntry, X509Certificate>;
}

/**
 * Turns gateway entries into trust-file entries (DSCs only, kinds eu-dcc, issuer and region the
 * country), checking each on the way as the gateway's own download connector does (dgc-lib
 * DgcGatewayConnectorUtils): thumbprint and kid; with trust anchors configured, the CMS signature of
 * every authority entry by an anchor and of every DSC by an UPLOAD certificate of its country; with
 * any CSCA known (configured, or listed), that each DSC was issued by a CSCA of its country.
 * Every problem is collected; the caller refuses the list when there is one.
 */
export function dscEntriesToTrust(list: readonly DscEntry[], checks: TrustChecks, memo: TrustCheckMemo, problems: string[]): DscListOutcome {
  const note = (index: number, kid: string, message: string) => {
    if (problems.length < 50) problems.push(`entry ${index} (kid ${kid}): ${message}`);
  };
  const parsed: Parsed[] = [];
  list.forEach((entry, index) => {
    // A revoked DSC is left out; an authority entry without its certificate is a broken list.
    if (entry.rawData === null) {
      if (entry.certificateType !== 'DSC') note(index, entry.kid, `${entry.certificateType} without rawData`);
      return;
    }
    try {
      parsed.push(parseEntry(entry, index, memo));
    } catch (err) {
      note(index, entry.kid, (err as Error).message);
    }
  });
  const anchored = checks.anchors.length > 0;
  const uploads = new Map<string, X509Certificate[]>();
  const cscas: Authority[] = checks.cscas.map((certificate) => {
    const country = subjectCountry(certificate);
    return country === undefined ? { certificate } : { country, certificate };
  });
  for (const item of parsed) {
    if (item.entry.certificateType === 'DSC') continue;
    if (anchored) {
      try {
        if (!isAnchor(signerOf(item, memo), checks.anchors)) throw new Error('signed by a certificate that is not a configured trust anchor');
      } catch (err) {
        note(item.index, item.entry.kid, `${item.entry.certificateType} signature: ${(err as Error).message}`);
        continue;
      }
    }
    if (item.entry.certificateType === 'UPLOAD') uploads.set(item.entry.country, [...(uploads.get(item.entry.country) ?? []), item.certificate]);
    if (item.entry.certificateType === 'CSCA') cscas.push({ country: item.entry.country, certificate: item.certificate });
  }
  const entries: TrustFileEntry[] = [];
  const certificates = new Map<TrustFileEntry, X509Certificate>();
  for (const item of parsed) {
    const { entry } = item;
    if (entry.certificateType !== 'DSC') continue;
    const problem = dscProblem(item, checks, memo, uploads, cscas);
    if (problem !== undefined) {
      note(item.index, entry.kid, problem);
      continue;
    }
    const trusted: TrustFileEntry = { kid: entry.kid, certificate: entry.rawData!, issuer: entry.country, region: entry.country, kinds: ['eu-dcc'] };
    entries.push(trusted);
    certificates.set(trusted, item.certificate);
  }
  return { entries, certificates };
}

function dscProblem(
  item: Parsed,
  checks: TrustChecks,
  memo: TrustCheckMemo,
  uploads: ReadonlyMap<string, readonly X509Certificate[]>,
  cscas: readonly Authority[],
): string | undefined {
  const country = item.entry.country;
  const declared = subjectCountry(item.certificate);
  if (declared !== undefined && declared !== country) return `certificate of ${declared} listed under ${country}`;
  if (checks.anchors.length > 0) {
    let signer: X509Certificate;
    try {
      signer = signerOf(item, memo);
    } catch (err) {
      return `DSC signature: ${(err as Error).message}`;
    }
    const byUpload = (uploads.get(country) ?? []).some((u) => u.raw.equals(signer.raw));
    if (!byUpload && !isAnchor(signer, checks.anchors)) return `DSC signature: not by an UPLOAD certificate of ${country} verified by a trust anchor`;
  }
  if (cscas.length > 0) {
    const ofCountry = cscas.filter((c) => c.country === undefined || c.country === country);
    if (!ofCountry.some((c) => issuedBy(item, c, memo))) return `not issued by a CSCA of ${country}`;
  }
  return undefined;
}
