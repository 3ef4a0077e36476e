import type { CityopsError } from '@cityops/protocol';
import type { Logger } from 'pino';
import type { RegisterSpec } from './register-map-schema.ts';

export type SensorState = 'ok' | 'exception' | 'timeout' | 'transport' | 'invalid-value';

export interface SensorHealth {
  readonly sensor: string;
  readonly metric: string;
  state: SensorState;
  /** The error code while not ok (AGENT_ERR_MODBUS_*). */
  code?: string;
  /** The Modbus exception code, for state `exception`. */
  modbusCode?: number;
  /** Failed reads since the last good one. */
  failures: number;
  /** When the current state began (ms since the epoch). */
  since: number;
}

export interface ModbusErrorCounts {
  exceptions: number;
  timeouts: number;
  transportErrors: number;
  invalidValues: number;
}

const STATE_OF: Record<string, SensorState> = {
  AGENT_ERR_MODBUS_EXCEPTION: 'exception',
  AGENT_ERR_MODBUS_TIMEOUT: 'timeout',
  AGENT_ERR_MODBUS_TRANSPORT: 'transport',
  AGENT_ERR_MODBUS_VALUE: 'invalid-value',
};

/**
 * Per-sensor error state of a Modbus source. A failure is counted every time; it is logged when a
 * sensor's state changes (ok -> failing, one failure kind -> another, failing -> ok), so a unit that
 * stays dead for a day writes two log lines, not one per poll.
 */
export function createSensorHealth(deps: { readonly logger: Logger; readonly now: () => number }) {
  const sensors = new Map<string, SensorHealth>();
  const counts: ModbusErrorCounts = { exceptions: 0, timeouts: 0, transportErrors: 0, invalidValues: 0 };

  function entry(spec: RegisterSpec): SensorHealth {
    const key = `${spec.sensor}\u0000${spec.metric}`;
    let health = sensors.get(key);
    if (health === undefined) {
      health = { sensor: spec.sensor, metric: spec.metric, state: 'ok', failures: 0, since: deps.now() };
      sensors.set(key, health);
    }
    return health;
  }

  return {
    ok(spec: RegisterSpec): void {
      const health = entry(spec);
      if (health.state === 'ok') return;
      deps.logger.info({ sensor: spec.sensor, metric: spec.metric, after: health.state, failures: health.failures }, 'modbus sensor answers again');
      Object.assign(health, { state: 'ok', failures: 0, since: deps.now() });
      delete health.code;
      delete health.modbusCode;
    },
    failed(specs: readonly RegisterSpec[], err: CityopsError): void {
      const state = STATE_OF[err.code] ?? 'transport';
      if (state === 'exception') counts.exceptions++;
      else if (state === 'timeout') counts.timeouts++;
      else if (state === 'transport') counts.transportErrors++;
      else counts.invalidValues++;
      const modbusCode = (err as CityopsError & { modbusCode?: number }).modbusCode;
      for (const spec of specs) {
        const health = entry(spec);
        health.failures++;
        if (health.state === state && health.modbusCode === modbusCode) continue;
        deps.logger.warn({ err, sensor: spec.sensor, metric: spec.metric, unit: spec.unit, table: spec.table, address: spec.address }, 'modbus sensor failing');
        delete health.modbusCode;
        Object.assign(health, { state, code: err.code, since: deps.now() }, modbusCode === undefined ? {} : { modbusCode });
      }
    },
    counts: (): ModbusErrorCounts => ({ ...counts }),
    /** Sensors not in state ok, and each one's state. */
    failing: (): SensorHealth[] => [...sensors.values()].filter((h) => h.state !== 'ok').map((h) => ({ ...h })),
    all: (): SensorHealth[] => [...sensors.values()].map((h) => ({ ...h })),
  };
}

export type SensorHealthTracker = ReturnType<typeof createSensorHealth>;
