import { defineErrors } from '@cityops/protocol';

/**
 * The device registry's refusals. The codes keep the names devices, operators and their scripts
 * have seen since the registry lived in ingest: it moved down so that the verifier can read it too
 * (issue 16), and a client must not see a device's credentials answered differently for that.
 */
export const registryErrors = defineErrors({
  INGEST_ERR_UNKNOWN_DEVICE: { message: 'Unknown or revoked device', statusCode: 401 },
  INGEST_ERR_BAD_CREDENTIALS: { message: 'Wrong device id or secret', statusCode: 401 },
  INGEST_ERR_DEVICE_EXISTS: { message: 'A device with this id already exists', statusCode: 409 },
  /** Too many secret checks waiting (a login flood): try again shortly. */
  INGEST_ERR_REGISTRY_BUSY: { message: 'Too many logins being checked; try again', statusCode: 503 },
  INGEST_ERR_QUERY_INVALID: { message: 'Invalid query parameters', statusCode: 400 },
  /** Declaring sensors beyond the device's cap (raise `maxSensors` in the same call). */
  INGEST_ERR_SENSOR_LIMIT: { message: "Beyond the device's sensor cap", statusCode: 409 },
  /** Declaring sensors whose metrics would exceed the device's metric cap. */
  INGEST_ERR_METRIC_LIMIT: { message: "Beyond the device's cap on distinct metric names", statusCode: 409 },
  INGEST_ERR_UNKNOWN_SENSOR: { message: 'The device has no such sensor', statusCode: 404 },
});
