import { readingSchema } from '@cityops/protocol';
import type { SensorSetListing } from '@cityops/warehouse';
import { cliErrors } from '../cli-errors.ts';
import { callApi, withStore, type Target } from './device-target.ts';

const SENSOR_PATTERN = new RegExp(readingSchema.properties.sensor.pattern);
const METRIC_PATTERN = new RegExp(readingSchema.properties.metric.pattern);

/** `--sensors s1:metric,s2:metric` → declared sensors; every bad entry reported together. */
export function parseSensorList(text: string): { id: string; metric: string }[] {
  const sensors: { id: string; metric: string }[] = [];
  const bad: string[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const [id = '', metric = '', ...rest] = item.split(':');
    if (rest.length > 0 || !SENSOR_PATTERN.test(id) || !METRIC_PATTERN.test(metric)) bad.push(item.slice(0, 80));
    else sensors.push({ id, metric });
  }
  if (bad.length > 0) throw cliErrors.CLI_ERR_USAGE(`--sensors takes sensor:metric pairs (sensor ${SENSOR_PATTERN.source}, metric ${METRIC_PATTERN.source}); not: ${bad.join(', ')}`);
  return sensors;
}

export function parseMaxSensors(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text)) throw cliErrors.CLI_ERR_USAGE('--max-sensors takes a whole number (0: the default cap)');
  return Number(text);
}

function describe(listing: SensorSetListing): string {
  const lines = [
    `device ${listing.device}: ${listing.active + listing.decommissioned} of ${listing.cap} sensors ` +
      `(${listing.active} active, ${listing.decommissioned} decommissioned), ${listing.metrics} of ${listing.maxMetrics} metric names`,
    ...listing.sensors.map((s) => `  ${s.sensor.padEnd(24)} ${s.metric.padEnd(20)} ${s.origin.padEnd(9)} ${s.state}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** `cityops device sensors <id>`: the device's sensors against its caps. */
export async function listSensors(target: Target, id: string, json: boolean, out: NodeJS.WritableStream): Promise<void> {
  const listing =
    target.api !== undefined
      ? ((await callApi(target, 'GET', `/v1/devices/${encodeURIComponent(id)}/sensors?limit=10000`)) as SensorSetListing)
      : await withStore(target, async (registry, sensors) => {
          if ((await registry.find(id)) === undefined) throw cliErrors.CLI_ERR_USAGE(`no device ${id}`);
          return sensors.list(id);
        });
  out.write(json ? `${JSON.stringify(listing)}\n` : describe(listing));
}

/** `cityops device decommission <id> <sensor>`: its readings are refused from now on, its silence is not news. */
export async function decommissionSensor(target: Target, id: string, sensor: string, json: boolean, out: NodeJS.WritableStream): Promise<void> {
  const record =
    target.api !== undefined
      ? await callApi(target, 'DELETE', `/v1/devices/${encodeURIComponent(id)}/sensors/${encodeURIComponent(sensor)}`)
      : await withStore(target, (_registry, sensors) => sensors.decommission(id, sensor));
  out.write(json ? `${JSON.stringify({ device: id, ...(record as object) })}\n` : `sensor ${sensor} of ${id} decommissioned: its readings are refused\n`);
}
