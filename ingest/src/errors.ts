import { defineErrors } from '@cityops/protocol';

export const ingestErrors = defineErrors({
  INGEST_ERR_CONFIG: { message: 'Invalid ingest configuration', statusCode: 500 },
  INGEST_ERR_UNKNOWN_DEVICE: { message: 'Unknown or revoked device', statusCode: 401 },
  INGEST_ERR_BAD_CREDENTIALS: { message: 'Wrong device id or secret', statusCode: 401 },
  INGEST_ERR_NOT_A_GATEWAY: { message: 'Only gateways may publish telemetry', statusCode: 403 },
  INGEST_ERR_TOPIC_FORBIDDEN: { message: 'A device may publish only under its own topics', statusCode: 403 },
  INGEST_ERR_SUBSCRIBE_FORBIDDEN: { message: "A device may not subscribe to other devices' topics", statusCode: 403 },
  INGEST_ERR_TIMESTAMP_OUT_OF_RANGE: { message: 'Reading timestamp outside the accepted window', statusCode: 400 },
  INGEST_ERR_DEVICE_EXISTS: { message: 'A device with this id already exists', statusCode: 409 },
  INGEST_ERR_WAL_CORRUPT: { message: 'Write-ahead log record is corrupt', statusCode: 500 },
  INGEST_ERR_STOPPED: { message: 'Ingest is stopping and accepts nothing more', statusCode: 503 },
  INGEST_ERR_QUERY_INVALID: { message: 'Invalid query parameters', statusCode: 400 },
  INGEST_ERR_UNAUTHORIZED: { message: 'Missing or wrong credentials', statusCode: 401 },
  INGEST_ERR_ROLE_FORBIDDEN: { message: "The token's role does not allow this route", statusCode: 403 },
  INGEST_ERR_CLUSTER_UNAVAILABLE: { message: 'Cluster routing (Redis) is unavailable; nothing is accepted until it is back', statusCode: 503 },
  /** A batch another instance claimed and has not yet said is in its WAL (issue 22): not acknowledged, the device resends. */
  INGEST_ERR_CLAIM_HELD: { message: 'Another ingest instance holds this batch; resend later', statusCode: 503 },
  /** A dead instance's WAL replayed by another (issue 22) whose rows could not all reach the warehouse: run it again. */
  INGEST_ERR_WAL_ADOPTION: { message: "The dead instance's WAL was not fully written to the warehouse", statusCode: 503 },
  INGEST_ERR_CLIENT_CERT: { message: 'The client certificate is not trusted or does not name this device', statusCode: 403 },
  INGEST_ERR_LOCKED_OUT: { message: 'Too many failed logins from this address; try again later', statusCode: 429 },
  INGEST_ERR_WIRE_LIMIT: { message: 'An MQTT packet or socket beyond the wire limits (mqtt.wire): connection closed', statusCode: 400 },
  INGEST_ERR_INSTANCE_TAKEN: { message: 'Another live ingest instance uses this pipeline instance name', statusCode: 500 },
  /** Readings refused because they name a sensor beyond the device's cap (issue 17): a dead letter, never stored. */
  INGEST_ERR_SENSOR_LIMIT: { message: "Reading for a sensor beyond the device's sensor cap", statusCode: 400 },
  /** Readings refused because their metric would exceed the device's cap on distinct metric names. */
  INGEST_ERR_METRIC_LIMIT: { message: "Reading for a metric beyond the device's cap on distinct metric names", statusCode: 400 },
  /** Readings refused because their sensor was decommissioned by an operator. */
  /** An admin route naming a device the registry does not have. */
  INGEST_ERR_NO_SUCH_DEVICE: { message: 'No device with this id', statusCode: 404 },
  INGEST_ERR_SENSOR_DECOMMISSIONED: { message: 'Reading for a decommissioned sensor', statusCode: 400 },
  /** PUT /v1/devices/{id}/config for a device that is not a gateway (issue 18: gateways only). */
  INGEST_ERR_CONFIG_KIND: { message: 'Only gateways take a remote configuration', statusCode: 409 },
  /** A config-state report that is malformed or names a version never set: refused, the connection closed. */
  INGEST_ERR_CONFIG_REPORT_INVALID: { message: 'Configuration state report is invalid', statusCode: 400 },
});
