import { createHash, createHmac } from 'node:crypto';

/**
 * How identifiers are kept: revocation and status lists hold SHA-256 digests (hex) of the code id or
 * the subject, never the raw values; the audit trail holds a keyed pseudonym (HMAC-SHA256 with a
 * secret from config), so that nobody without the key can test a guess against it.
 */
export function identifierHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export function pseudonym(key: string, subject: string): string {
  return createHmac('sha256', key).update(subject, 'utf8').digest('hex');
}

/** SHA-256 of the QR text, base64: the verdict cache's key, so the cache never holds a code. */
export function qrDigest(qr: string): string {
  return createHash('sha256').update(qr, 'utf8').digest('base64');
}
