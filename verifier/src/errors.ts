import { defineErrors } from '@cityops/protocol';

/** The verifier's error codes. A verdict's `reason` is not an error: see reasons.ts. */
export const verifierErrors = defineErrors({
  VERIFIER_ERR_CONFIG: { message: 'Invalid verifier configuration', statusCode: 500 },
  VERIFIER_ERR_TRUST_LIST: { message: 'Trust list refused', statusCode: 500 },
  VERIFIER_ERR_REVOCATION_LIST: { message: 'Revocation list refused', statusCode: 500 },
  VERIFIER_ERR_STATUS_FEED: { message: 'Status feed refused', statusCode: 500 },
  VERIFIER_ERR_POLICIES: { message: 'Venue policies refused', statusCode: 500 },
  VERIFIER_ERR_SOURCE: { message: 'Reference data source could not be read', statusCode: 502 },
  VERIFIER_ERR_FILTER: { message: 'Revocation filter cannot be read', statusCode: 400 },
  VERIFIER_ERR_REQUEST_INVALID: { message: 'Invalid verification request', statusCode: 400 },
  VERIFIER_ERR_BATCH_TOO_LARGE: { message: 'Too many items in one batch request', statusCode: 413 },
  VERIFIER_ERR_OVERLOADED: { message: 'The verification queue is full; retry shortly', statusCode: 503 },
  VERIFIER_ERR_STOPPED: { message: 'The verifier is stopping and takes no more requests', statusCode: 503 },
  VERIFIER_ERR_WORKER: { message: 'A verification worker failed', statusCode: 500 },
  VERIFIER_ERR_MQTT: { message: 'The MQTT broker refused the verifier', statusCode: 502 },
  VERIFIER_ERR_UNAUTHENTICATED: { message: 'Valid credentials are required (Authorization: Bearer <token>, or a scanner\'s Basic id:secret)', statusCode: 401 },
  VERIFIER_ERR_LOCKED_OUT: { message: 'Too many failed logins from this address; try again later', statusCode: 429 },
  VERIFIER_ERR_ROLE_FORBIDDEN: { message: "The token's role does not allow this route", statusCode: 403 },
  VERIFIER_ERR_UNKNOWN_SCANNER: { message: 'This scanner is not registered, revoked, or not a scanner: its requests are refused', statusCode: 403 },
  VERIFIER_ERR_VENUE_MISMATCH: { message: 'The request names another venue than the one the scanner or token is registered at', statusCode: 403 },
  VERIFIER_ERR_REFERENCE_ENVELOPE: { message: 'A reference envelope was refused (not signed by the configured publisher, altered, or malformed)', statusCode: 400 },
  VERIFIER_ERR_REFERENCE_PUSH: { message: 'Reference data could not be published to scanners over MQTT; they keep their HTTP poll', statusCode: 502 },
  VERIFIER_ERR_AUDIT_UNAVAILABLE: { message: 'The audit trail cannot be read now (no warehouse, or the read could not be recorded)', statusCode: 503 },
});
