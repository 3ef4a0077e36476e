import type { IClientOptions } from 'mqtt';
import type { CityopsError } from '@cityops/protocol';
import { analyticsErrors } from './errors.ts';
import type { RuleEngineConfig } from './rules/rule-engine-config.ts';

export type ServiceMqttConfig = RuleEngineConfig['mqtt'];

/**
 * mqtt.js options for one of analytics' connections to the broker as its `service` device (the rule
 * engine's stream, the alert notifications); ingest wants the client id to be `<device id>:<anything>`.
 */
export function serviceClientOptions(config: ServiceMqttConfig, clientId: string): IClientOptions {
  return {
    clientId,
    username: config.username,
    password: config.password,
    protocolVersion: 4, // MQTT 3.1.1: aedes 1.2 refuses 5
    clean: true,
    reconnectPeriod: config.reconnectMs,
    queueQoSZero: false,
    ...(config.ca === undefined ? {} : { ca: config.ca }),
  };
}

/** The first connection failed: the service does not start (wrong URL, credentials, not a service). */
export function connectionRefused(config: ServiceMqttConfig, err: Error): CityopsError {
  return analyticsErrors.ANALYTICS_ERR_CONFIG(`cannot connect to ${config.url} as ${config.username}: ${err.message}`, err);
}
