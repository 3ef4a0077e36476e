import { createDeviceRegistry, createSensorSets, openWarehouse, sensorSetsConfigSchema, type DeviceRegistry, type SensorSets } from '@cityops/warehouse';
import { cliErrors } from '../cli-errors.ts';
import { warehouseConfigFrom } from '../store-option.ts';

/** Where `cityops device` finds the registry: a running cityops' API, or the store itself. */
export interface Target {
  readonly api?: string | undefined;
  readonly token?: string | undefined;
  readonly store?: string | undefined;
  readonly data: string;
}

export async function callApi(target: Target, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(new URL(path, target.api), {
    method,
    headers: {
      authorization: `Bearer ${target.token ?? ''}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw cliErrors.CLI_ERR_API(`${response.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

const SENSOR_DEFAULTS = sensorSetsConfigSchema.properties;

/**
 * The registry and the sensor sets straight on the store (no service running). The caps are the
 * configuration's defaults: a device's own `maxSensors` is read from the store, the default cap is
 * the one a service started without `registry.sensors` would use.
 */
export async function withStore<T>(target: Target, fn: (registry: DeviceRegistry, sensors: SensorSets) => Promise<T>): Promise<T> {
  const warehouse = await openWarehouse(warehouseConfigFrom(target));
  const registry = createDeviceRegistry({ refreshMs: 60_000 }, { warehouse });
  const sensors = createSensorSets(
    {
      defaultMaxPerDevice: SENSOR_DEFAULTS.defaultMaxPerDevice.default,
      maxMetricsPerDevice: SENSOR_DEFAULTS.maxMetricsPerDevice.default,
      flushMs: SENSOR_DEFAULTS.flushMs.default,
      flushBatchRows: SENSOR_DEFAULTS.flushBatchRows.default,
      refreshMs: 60_000,
    },
    { warehouse, capOf: (id) => registry.get(id)?.maxSensors },
  );
  try {
    await registry.start();
    await sensors.start();
    return await fn(registry, sensors);
  } finally {
    await sensors.stop();
    await registry.stop();
    await warehouse.close();
  }
}
