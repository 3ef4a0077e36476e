import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyticsService } from '@cityops/analytics';
import { openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import { serviceSecret } from '../service-credentials.ts';
import type { Shutdown } from '../shutdown.ts';
import { warehouseConfigFrom } from '../store-option.ts';
import { tokenFileOption } from '../token-file.ts';

export const analyticsUsage = `cityops analytics --mqtt mqtt://HOST:PORT [--service-id ID] [--data DIR] [--store URL] [--host H] [--http-port 8082]
                   [--indicators FILE] [--rules FILE] [--dispatch FILE] [--ingest-metrics URL] [--verifier-metrics URL]
                   [--tokens FILE]
  runs analytics alone: rollups, indicators, alert rules on the live stream (through the broker as service device ID,
  default cityops-analytics, provisioned on first start, its secret kept in DIR/ID-credentials.json), alert dispatch
  and the dashboard, whose pipeline panel scrapes the given /metrics URLs. Prints one JSON line when ready
  --tokens FILE: API token entries (cityops token new), as on 'cityops up'; edits take effect while running (without it every route is open)`;

export async function analyticsCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      mqtt: { type: 'string' },
      'service-id': { type: 'string', default: 'cityops-analytics' },
      data: { type: 'string', default: '.cityops' },
      store: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'http-port': { type: 'string', default: '8082' },
      indicators: { type: 'string' },
      rules: { type: 'string' },
      dispatch: { type: 'string' },
      'ingest-metrics': { type: 'string' },
      'verifier-metrics': { type: 'string' },
      tokens: { type: 'string' },
    },
  });
  if (values.mqtt === undefined) throw cliErrors.CLI_ERR_USAGE(`--mqtt is required\n\n${analyticsUsage}`);
  const dataDir = resolve(values.data);
  const id = values['service-id'];
  const logger = pino({ name: 'cityops-analytics', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  const { tokens, store: tokenStore } = await tokenFileOption(values.tokens, shutdown, { logger });
  const warehouse = await openWarehouse(warehouseConfigFrom({ store: values.store, data: dataDir }));
  shutdown.add(() => warehouse.close());
  const password = await serviceSecret(warehouse, id, join(dataDir, `${id}-credentials.json`));
  const analytics = createAnalyticsService(
    {
      http: { host: values.host, port: Number(values['http-port']) },
      auth: { tokens },
      ...(values.indicators === undefined ? {} : { indicatorsFile: resolve(values.indicators) }),
      rules: {
        mqtt: { url: values.mqtt, username: id, password },
        ...(values.rules === undefined ? {} : { rulesFile: resolve(values.rules) }),
      },
      alerts: values.dispatch === undefined ? {} : { dispatchFile: resolve(values.dispatch) },
      dashboard: {
        sources: {
          ...(values['ingest-metrics'] === undefined ? {} : { ingest: values['ingest-metrics'] }),
          ...(values['verifier-metrics'] === undefined ? {} : { verifier: values['verifier-metrics'] }),
        },
      },
    },
    { warehouse, logger, ...(tokenStore === undefined ? {} : { tokens: tokenStore }) },
  );
  shutdown.add(() => analytics.stop());
  const addresses = await analytics.start();
  out.write(`${JSON.stringify({ ready: true, pid: process.pid, id, ...addresses })}\n`);
}
