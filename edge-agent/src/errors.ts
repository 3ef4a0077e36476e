import { defineErrors } from '@cityops/protocol';

/**
 * Every error the gateway agent raises or logs, by code. A code is what an operator searches the
 * logs for; the message says what to do about it.
 */
export const agentErrors = defineErrors({
  AGENT_ERR_CONFIG: { message: 'Invalid gateway agent configuration' },
  AGENT_ERR_CONFIG_FILE: { message: 'Gateway configuration file unreadable or invalid (--config, /etc/cityops/gateway.json)' },
  AGENT_ERR_READING_INVALID: { message: 'Reading does not match the telemetry reading schema; it was skipped', statusCode: 400 },
  AGENT_ERR_SOURCE_LINE: { message: 'Input line is not a valid JSON reading; it was skipped', statusCode: 400 },
  AGENT_ERR_JOURNAL_FULL: { message: 'Journal reached journal.maxBytes; the whenFull policy dropped data', statusCode: 507 },
  AGENT_ERR_JOURNAL_CORRUPT: { message: 'Journal data failed its length/CRC check and was truncated' },
  AGENT_ERR_JOURNAL_IO: { message: 'Journal file operation failed' },
  AGENT_ERR_MQTT: { message: 'MQTT connection problem; the agent keeps journaling and will reconnect' },
  AGENT_ERR_ACK_TIMEOUT: { message: 'Broker did not acknowledge a batch in time; reconnecting to replay it' },
  AGENT_ERR_INGEST_REPORTED: { message: 'Ingest reported an error about a batch this device sent' },
  AGENT_ERR_STOPPED: { message: 'Gateway agent is stopped and accepts no readings', statusCode: 503 },
  AGENT_ERR_MODBUS_MAP: { message: 'Invalid Modbus register map; nothing was polled', statusCode: 400 },
  AGENT_ERR_MODBUS_EXCEPTION: { message: 'A Modbus unit answered with an exception code; its sensors report nothing until it answers', statusCode: 502 },
  AGENT_ERR_MODBUS_TIMEOUT: { message: 'A Modbus unit did not answer in time (after retries); its sensors fall silent until it answers', statusCode: 504 },
  AGENT_ERR_MODBUS_TRANSPORT: { message: 'The Modbus connection (TCP or serial) failed; it is reopened at the next poll', statusCode: 502 },
  AGENT_ERR_MODBUS_VALUE: { message: 'A Modbus register decoded to a value that is not a finite number; the reading was skipped', statusCode: 502 },
  /** A remote configuration version the gateway refused (issue 18); the running one stays in force. */
  AGENT_ERR_CONFIG_REJECTED: { message: 'Remote configuration rejected; the running configuration stays in force', statusCode: 400 },
  /** The last good remote configuration could not be read or written on disk. */
  AGENT_ERR_CONFIG_STORE: { message: 'Cannot read or write the stored remote configuration' },
});
