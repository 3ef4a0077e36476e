import {
  createDeviceConfigReportReader,
  topics,
  type ConfigState,
  type DeviceConfigMessage,
  type GatewayConfig,
} from '@cityops/protocol';
import { formatDateTime64Utc, type Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import { ingestErrors } from './errors.ts';
import type { IngestMetrics } from './ingest-metrics.ts';

export interface DesiredConfig {
  readonly version: number;
  readonly config: GatewayConfig;
  readonly author: string;
  /** ms since the epoch. */
  readonly issuedAt: number;
}

export interface ReportedConfig {
  readonly version: number;
  readonly state: ConfigState;
  readonly reason: string;
  /** When ingest received the report, ms since the epoch. */
  readonly reportedAt: number;
}

export interface DeviceConfigs {
  /** Re-publishes every device's newest version, retained: a broker restarted with empty memory still delivers it. */
  start(): Promise<void>;
  /** Stores the next version (every one kept), then publishes it retained on the device's config topic. */
  set(device: string, config: GatewayConfig, author: string): Promise<DesiredConfig>;
  desired(device: string): Promise<DesiredConfig | undefined>;
  reported(device: string): Promise<ReportedConfig | undefined>;
  /** The newest `limit` versions, newest first, without their bodies. */
  history(device: string, limit: number): Promise<{ version: number; author: string; issuedAt: number }[]>;
  /**
   * A report from the device on its config-state topic, recorded before its PUBACK. Throws
   * INGEST_ERR_CONFIG_REPORT_INVALID for one that is malformed or names a version never set.
   * At most one row per (version, state): a repeat, or a report older than the last one, is
   * acknowledged without a row, so a device cannot write rows faster than operators set versions.
   */
  record(device: string, payload: Buffer): Promise<void>;
}

export interface DeviceConfigsDeps {
  readonly warehouse: Warehouse;
  /** The broker's own publish (no ACL: ingest is the service that speaks on config topics). */
  readonly publish: (topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  readonly logger: Logger;
  readonly metrics?: Pick<IngestMetrics, 'configVersions' | 'configReports'>;
  readonly now?: () => number;
}

interface ConfigRow {
  device: string;
  version: number | string;
  body: string;
  author: string;
  created_ms: number | string;
}

const SELECT_CONFIG =
  'SELECT device, version, body, author, toFloat64(toUnixTimestamp64Milli(created_at)) AS created_ms FROM device_configs';

function toDesired(row: ConfigRow): DesiredConfig {
  return { version: Number(row.version), config: JSON.parse(row.body) as GatewayConfig, author: row.author, issuedAt: Number(row.created_ms) };
}

function message(desired: DesiredConfig): Buffer {
  const body: DeviceConfigMessage = { version: desired.version, issuedAt: desired.issuedAt, config: desired.config };
  return Buffer.from(JSON.stringify(body));
}

/**
 * Desired and reported configuration of gateways (issue 18), kept in the warehouse and delivered as
 * retained MQTT messages. Versions of one device are numbered here, one `set` at a time per device on
 * this instance; two instances setting the same device in the same instant could pick one number
 * twice (the gateway then applies whichever it saw first), so operators set a device through one.
 */
export function createDeviceConfigs(deps: DeviceConfigsDeps): DeviceConfigs {
  const { warehouse, logger } = deps;
  const now = deps.now ?? Date.now;
  const readReport = createDeviceConfigReportReader();
  // Per device: the set in progress (versions are taken one at a time), and the newest version
  // reported with the states written for it (so a device repeating itself costs no row). One entry
  // per device at most, two states in it.
  const setting = new Map<string, Promise<unknown>>();
  const lastReport = new Map<string, { version: number; states: Set<string> }>();

  async function newest(device: string): Promise<DesiredConfig | undefined> {
    const [row] = await warehouse.query<ConfigRow>(`${SELECT_CONFIG} WHERE device = {device:String} ORDER BY version DESC LIMIT 1`, { device });
    return row === undefined ? undefined : toDesired(row);
  }

  async function store(device: string, config: GatewayConfig, author: string): Promise<DesiredConfig> {
    const version = ((await newest(device))?.version ?? 0) + 1;
    const desired: DesiredConfig = { version, config, author, issuedAt: Math.floor(now()) };
    await warehouse.insertRows('device_configs', [
      { device, version, body: JSON.stringify(config), author, created_at: formatDateTime64Utc(desired.issuedAt) },
    ]);
    return desired;
  }

  return {
    async start() {
      const rows = await warehouse.query<ConfigRow>(
        `${SELECT_CONFIG} WHERE (device, version) IN (SELECT device, max(version) FROM device_configs GROUP BY device)`,
      );
      for (const row of rows) await deps.publish(topics.config(row.device), message(toDesired(row)), { qos: 1, retain: true });
      if (rows.length > 0) logger.info({ devices: rows.length }, 'desired configurations published (retained)');
    },

    async set(device, config, author) {
      const previous = setting.get(device) ?? Promise.resolve();
      const next = previous.catch(() => undefined).then(() => store(device, config, author));
      setting.set(device, next);
      try {
        const desired = await next;
        // Stored first: a publish lost here is repeated by start() on the next run of ingest.
        await deps.publish(topics.config(device), message(desired), { qos: 1, retain: true }).catch((err: unknown) => {
          logger.warn({ err, device, version: desired.version }, 'configuration stored but not published; published again at the next start');
        });
        deps.metrics?.configVersions.inc();
        logger.info({ device, version: desired.version, author }, 'desired configuration set');
        return desired;
      } finally {
        if (setting.get(device) === next) setting.delete(device);
      }
    },

    desired: newest,

    async reported(device) {
      const [row] = await warehouse.query<{ version: number | string; state: ConfigState; reason: string; reported_ms: number | string }>(
        'SELECT version, state, reason, toFloat64(toUnixTimestamp64Milli(reported_at)) AS reported_ms FROM device_config_reports ' +
          'WHERE device = {device:String} ORDER BY reported_at DESC LIMIT 1',
        { device },
      );
      return row === undefined ? undefined : { version: Number(row.version), state: row.state, reason: row.reason, reportedAt: Number(row.reported_ms) };
    },

    async history(device, limit) {
      const rows = await warehouse.query<ConfigRow>(`${SELECT_CONFIG} WHERE device = {device:String} ORDER BY version DESC LIMIT {limit:UInt32}`, { device, limit });
      return rows.map((row) => ({ version: Number(row.version), author: row.author, issuedAt: Number(row.created_ms) }));
    },

    async record(device, payload) {
      const read = readReport(payload);
      if (read.problems !== undefined) throw ingestErrors.INGEST_ERR_CONFIG_REPORT_INVALID(read.problems.join('; ').slice(0, 500));
      const report = read.value;
      const last = lastReport.get(device);
      if (last !== undefined && (report.version < last.version || (report.version === last.version && last.states.has(report.state)))) return;
      // A report about a version never set would let a device write rows without bound; version 0
      // (nothing readable arrived) is the one exception, and it can only ever be one row per device.
      if (report.version > 0 && report.version > ((await newest(device))?.version ?? 0)) {
        throw ingestErrors.INGEST_ERR_CONFIG_REPORT_INVALID(`version ${report.version} was never set for ${device}`);
      }
      await warehouse.insertRows('device_config_reports', [
        { device, version: report.version, state: report.state, reason: report.reason ?? '', reported_at: formatDateTime64Utc(now()) },
      ]);
      if (last !== undefined && last.version === report.version) last.states.add(report.state);
      else lastReport.set(device, { version: report.version, states: new Set([report.state]) });
      deps.metrics?.configReports.inc({ state: report.state });
      logger.info({ device, version: report.version, state: report.state }, 'configuration state reported');
    },
  };
}
