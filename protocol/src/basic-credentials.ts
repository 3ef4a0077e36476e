/** Longest Authorization header read as Basic credentials: an id (64) and a secret, with room to spare. */
const MAX_BASIC_HEADER = 1024;

/**
 * A device's `Authorization: Basic base64(id:secret)` (RFC 7617 §2), as ingest's telemetry route and
 * the verifier's verify routes read it. Undefined when the header is absent, not Basic, or has no colon.
 */
export function parseBasicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (header?.startsWith('Basic ') !== true || header.length > MAX_BASIC_HEADER) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
