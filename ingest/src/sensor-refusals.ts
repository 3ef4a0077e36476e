import type { Screened, SensorRefusal } from '@cityops/warehouse';

export type SensorRefusalCode = 'INGEST_ERR_SENSOR_LIMIT' | 'INGEST_ERR_METRIC_LIMIT' | 'INGEST_ERR_SENSOR_DECOMMISSIONED';

export const SENSOR_REFUSAL_CODES: Readonly<Record<SensorRefusal, SensorRefusalCode>> = {
  sensor_limit: 'INGEST_ERR_SENSOR_LIMIT',
  metric_limit: 'INGEST_ERR_METRIC_LIMIT',
  decommissioned: 'INGEST_ERR_SENSOR_DECOMMISSIONED',
};

/** Sensors named per reason in a refusal's message: enough to find the fault, bounded for a 10,000-reading batch. */
const NAMED_PER_REASON = 10;

/**
 * One refusal for a batch's refused readings: the code of the most numerous reason, and a message
 * that counts every reason and names the first few sensors of each (the dead letter's detail and the
 * device's notice; the raw bytes in the dead letter hold the rest).
 */
export function describeSensorRefusals(refused: Screened['refused'], total: number): { code: SensorRefusalCode; message: string; counts: Map<SensorRefusal, number> } {
  const counts = new Map<SensorRefusal, number>();
  const named = new Map<SensorRefusal, Set<string>>();
  for (const { reading, reason } of refused) {
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    let names = named.get(reason);
    if (names === undefined) named.set(reason, (names = new Set()));
    if (names.size < NAMED_PER_REASON) names.add(`${reading.sensor}:${reading.metric}`);
  }
  let top: SensorRefusal = refused[0]!.reason;
  for (const [reason, n] of counts) if (n > counts.get(top)!) top = reason;
  const parts = [...counts].map(([reason, n]) => {
    const names = [...named.get(reason)!];
    return `${n} ${reason} (${names.join(', ')}${n > names.length ? ', …' : ''})`;
  });
  return { code: SENSOR_REFUSAL_CODES[top], message: `${refused.length} of ${total} readings refused: ${parts.join('; ')}`, counts };
}
