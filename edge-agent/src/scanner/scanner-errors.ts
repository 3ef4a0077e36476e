import { defineErrors } from '@cityops/protocol';

/**
 * Every error the scanner agent raises or logs, by code. None of them stops the door: whatever
 * fails, a code still gets a verdict (from the verifier, or offline from the cached data).
 */
export const scannerErrors = defineErrors({
  SCANNER_ERR_CONFIG: { message: 'Invalid scanner agent configuration' },
  SCANNER_ERR_STOPPED: { message: 'Scanner agent is stopped and takes no codes', statusCode: 503 },
  SCANNER_ERR_MQTT: { message: 'MQTT connection problem; the scanner verifies offline and will reconnect' },
  SCANNER_ERR_VERIFIER_UNREACHABLE: { message: 'The verifier did not answer in time; verifying offline until it answers again' },
  SCANNER_ERR_REFERENCE: { message: 'Reference data could not be refreshed; the cached copy stays in use (and ages)' },
  SCANNER_ERR_REFERENCE_PUSH: { message: 'Pushed reference data was refused (not signed by the configured publisher, altered, or unusable); the copy in use stays' },
  SCANNER_ERR_SPOOL_FULL: { message: 'Offline event spool reached spool.maxBytes; the whenFull policy dropped events', statusCode: 507 },
  SCANNER_ERR_SPOOL_IO: { message: 'Offline event spool file operation failed' },
  SCANNER_ERR_UPLOAD_REFUSED: { message: 'The verifier refused some uploaded offline events (they do not match its schema)' },
  SCANNER_ERR_SERIAL: { message: 'Serial scanner device could not be opened or went away; reopening it with backoff' },
  SCANNER_ERR_VENUE_MISMATCH: {
    message: "A scan named another venue than the scanner's own; the verifier records a scanner's checks only at its registered venue",
    statusCode: 400,
  },
  SCANNER_ERR_REFUSED: { message: 'The verifier refused this scanner (not registered as a scanner, or at another venue): no verdict', statusCode: 403 },
  SCANNER_ERR_INPUT_LINE: { message: 'Input line is not a QR text or {"qr", "venue"?}; it was skipped', statusCode: 400 },
});
