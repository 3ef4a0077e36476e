import { verify } from 'node:crypto';
import { compileSchemaCheck } from '@cityops/protocol';
import { verifierErrors } from '../errors.ts';
import { buildTrustSnapshot, parseTrustFile, type TrustSnapshot } from '../trust-list.ts';
import { dscEntriesToTrust, dscEntrySchema, type DscEntry, type DscListOutcome } from './dsc-entries.ts';
import { NO_MEMO, type TrustCheckMemo } from './trust-check-memo.ts';
import { NO_TRUST_CHECKS, type TrustChecks, type TrustListFormat } from './trust-material.ts';

/** The same bound as the project's own format. */
const MAX_ENTRIES = 100_000;
const dscListSchema = { type: 'array', maxItems: MAX_ENTRIES, items: dscEntrySchema } as const;
const nationalListSchema = { type: 'object', required: ['certificates'], properties: { certificates: dscListSchema } } as const;
const checkDscList = compileSchemaCheck(dscListSchema);
const checkNationalList = compileSchemaCheck(nationalListSchema);

/** Far longer than any ECDSA signature in base64 (P-521 DER: under 200 characters). */
const MAX_SIGNATURE_CHARS = 1024;
const CURVE_BYTES: Readonly<Record<string, number>> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 };

type Detected = Exclude<TrustListFormat, 'auto'>;

const refuse = (what: string, cause?: unknown) => verifierErrors.VERIFIER_ERR_TRUST_LIST(what, cause);

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

function trimmed(bytes: Buffer): Buffer {
  let start = 0;
  let end = bytes.length;
  // A UTF-8 byte order mark is no content (some editors write one).
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  while (start < end && isSpace(bytes[start]!)) start++;
  while (end > start && isSpace(bytes[end - 1]!)) end--;
  return bytes.subarray(start, end);
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw refuse(`${what} is not JSON: ${(err as Error).message}`, err);
  }
}

/**
 * An array whose first item looks like a gateway entry is the gateway's format; any other array,
 * ours. An empty one is whichever the source expects (a country without DSCs is an empty gateway list).
 */
function arrayFormat(value: unknown[], checks: TrustChecks): Detected {
  if (value.length === 0) return checks.format === 'dcc-gateway' || checks.anchors.length > 0 ? 'dcc-gateway' : 'cityops';
  const first = value[0];
  return typeof first === 'object' && first !== null && ('rawData' in first || 'certificateType' in first) ? 'dcc-gateway' : 'cityops';
}

/**
 * A national backend's list (de.dscg.ubirch.com/trustList/DSC): the base64 ECDSA signature, a
 * newline, then the JSON. What is signed is the JSON as sent, trimmed, with SHA-256; the signature
 * is raw r||s (cwa-server DscListDecoder splits it in halves into a DER sequence), DER accepted too.
 */
function verifyNationalList(text: Buffer, checks: TrustChecks): Buffer {
  const brace = text.indexOf(0x7b);
  if (brace <= 0) throw refuse('national list: no signature line before the JSON');
  const signatureText = trimmed(text.subarray(0, brace)).toString('latin1');
  if (signatureText.length > MAX_SIGNATURE_CHARS || !/^[A-Za-z0-9+/]+={0,2}$/.test(signatureText)) throw refuse('national list: the first line is not a base64 signature');
  const content = trimmed(text.subarray(brace));
  if (checks.signer === undefined) throw refuse('national list: no signer is configured to check its signature (trust.signer, --trust-signer)');
  const signature = Buffer.from(signatureText, 'base64');
  const curve = checks.signer.asymmetricKeyDetails?.namedCurve ?? '';
  const raw = signature.length === 2 * (CURVE_BYTES[curve] ?? -1);
  let holds = false;
  try {
    holds = verify('sha256', content, { key: checks.signer, dsaEncoding: raw ? 'ieee-p1363' : 'der' }, signature);
  } catch {
    holds = false;
  }
  if (!holds) throw refuse('national list: the signature does not verify with the configured signer');
  return content;
}

/** Counted before the schema walks every item: too long a list is refused at once, whatever its items. */
function checkLength(value: unknown, what: string): void {
  const items = Array.isArray(value) ? value : (value as { certificates?: unknown } | null)?.certificates;
  if (Array.isArray(items) && items.length > MAX_ENTRIES) throw refuse(`${what}: ${items.length} entries, at most ${MAX_ENTRIES}`);
}

function dscTrust(list: unknown, check: (value: unknown) => string[], what: string, checks: TrustChecks, memo: TrustCheckMemo, version: number): TrustSnapshot {
  checkLength(list, what);
  const shape = check(list);
  if (shape.length > 0) throw refuse(`${what}: ${shape.slice(0, 20).join('; ')}`);
  const items = (what === 'national list' ? (list as { certificates: DscEntry[] }).certificates : list) as DscEntry[];
  const problems: string[] = [];
  const outcome: DscListOutcome = dscEntriesToTrust(items, checks, memo, problems);
  if (problems.length > 0) throw refuse(`${what}: ${problems.slice(0, 20).join('; ')}`);
  return buildTrustSnapshot(outcome.entries, version, (entry) => outcome.certificates.get(entry));
}

/** By the first byte: `[` a JSON array (ours or the gateway's, by its items), `{` a national list without its signature line, else that line. */
function detect(bytes: Buffer, checks: TrustChecks): { format: Detected; value?: unknown } {
  const first = bytes[0];
  if (first === 0x5b) {
    const value = parseJson(bytes, 'trust list') as unknown[];
    return { format: arrayFormat(value, checks), value };
  }
  if (first === 0x7b) {
    parseJson(bytes, 'trust list');
    throw refuse('a JSON object is neither a trust file nor a signed national list (its signature line is missing)');
  }
  if (first === undefined || !/[A-Za-z0-9+/]/.test(String.fromCharCode(first))) throw refuse('not a trust list: neither JSON nor a signed national list');
  return { format: 'national' };
}

/**
 * Reads trust material in any of the formats real backends publish, checking what they sign, into
 * one snapshot: the project's own trust file, the EU DCC Gateway trust list, or a national backend's
 * signed DSC list. The format is told from the content unless configured; a list with any problem
 * is refused whole (VERIFIER_ERR_TRUST_LIST, naming what failed), so the list in force stays.
 * With a signer configured only a signed national list is taken, and with trust anchors only
 * signed entries: an unsigned list in their place would otherwise bypass the check.
 */
export function readTrustList(input: unknown, version: number, checks: TrustChecks = NO_TRUST_CHECKS, memo: TrustCheckMemo = NO_MEMO): TrustSnapshot {
  memo.begin();
  const bytes = typeof input === 'string' || Buffer.isBuffer(input) ? trimmed(Buffer.isBuffer(input) ? input : Buffer.from(input, 'utf8')) : undefined;
  // Parsed JSON (tests, callers holding an object) can only be one of the array formats.
  const { format, value } = bytes === undefined ? { format: Array.isArray(input) ? arrayFormat(input, checks) : 'cityops', value: input } : detect(bytes, checks);
  if (checks.format !== 'auto' && checks.format !== format) throw refuse(`the list is in the ${format} format, the source is configured for ${checks.format}`);
  if (checks.signer !== undefined && format !== 'national') throw refuse(`a signer is configured, but the list (${format}) is not a signed national list`);
  if (checks.anchors.length > 0 && format === 'cityops') throw refuse('trust anchors are configured, but the list (cityops) has no signed entries');
  switch (format) {
    case 'cityops':
      checkLength(value, 'trust file');
      return buildTrustSnapshot(parseTrustFile(value), version);
    case 'dcc-gateway':
      return dscTrust(value, checkDscList, 'dcc-gateway list', checks, memo, version);
    case 'national': {
      const content = verifyNationalList(bytes!, checks);
      return dscTrust(parseJson(content, 'national list'), checkNationalList, 'national list', checks, memo, version);
    }
  }
}
