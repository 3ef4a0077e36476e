import { parseArgs } from 'node:util';
import { DEVICE_KINDS, parsePlace, PLACED_DEVICE_KINDS, type DeviceKind, type Place } from '@cityops/protocol';
import { cliErrors } from '../cli-errors.ts';
import { deviceConfig } from './device-config.ts';
import { decommissionSensor, listSensors, parseMaxSensors, parseSensorList } from './device-sensors.ts';
import { callApi, withStore, type Target } from './device-target.ts';

export const deviceUsage = `cityops device add <id> --kind gateway|scanner|service|console [--at district/subdistrict/grid[/building]] [--departments a,b]
    [--sensors s1:metric,s2:metric] [--max-sensors N]
  --at is required for gateways and scanners; --departments for a console (the alert topics it may read)
  --sensors declares a gateway's sensors; others are learned on first sight up to its cap (--max-sensors, 0: the default)
cityops device revoke <id>
cityops device sensors <id>                  a device's sensors, with counts against its caps
cityops device decommission <id> <sensor>    its readings are refused from now on, its silence is not news
cityops device config <id> [--set FILE]      a gateway's remote configuration: desired vs reported, or set
                                             a new version from a JSON file (--api and --token only)
  where the registry is: --api URL --token T (a running cityops), or --store URL, or --data DIR (default .cityops)
  --json   print JSON (the credentials of a device added)`;

export async function deviceCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kind: { type: 'string' },
      at: { type: 'string' },
      departments: { type: 'string' },
      sensors: { type: 'string' },
      'max-sensors': { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      store: { type: 'string' },
      data: { type: 'string', default: '.cityops' },
      json: { type: 'boolean', default: false },
      set: { type: 'string' },
    },
  });
  const [verb, id, sensor] = positionals;
  if (id === undefined || !['add', 'revoke', 'sensors', 'decommission', 'config'].includes(verb ?? '')) throw cliErrors.CLI_ERR_USAGE(deviceUsage);
  const target: Target = { api: values.api, token: values.token, store: values.store, data: values.data };

  if (verb === 'config') return deviceConfig(target, id, values.set, values.json, out);
  if (verb === 'sensors') return listSensors(target, id, values.json, out);
  if (verb === 'decommission') {
    if (sensor === undefined) throw cliErrors.CLI_ERR_USAGE('cityops device decommission <id> <sensor>');
    return decommissionSensor(target, id, sensor, values.json, out);
  }

  if (verb === 'revoke') {
    if (target.api !== undefined) await callApi(target, 'DELETE', `/v1/devices/${encodeURIComponent(id)}`);
    else await withStore(target, (registry) => registry.revoke(id));
    out.write(values.json ? `${JSON.stringify({ id, revoked: true })}\n` : `device ${id} revoked\n`);
    return;
  }

  const kind = values.kind as DeviceKind | undefined;
  if (kind === undefined || !DEVICE_KINDS.includes(kind)) throw cliErrors.CLI_ERR_USAGE(`--kind must be one of ${DEVICE_KINDS.join(', ')}`);
  if (PLACED_DEVICE_KINDS.includes(kind) && values.at === undefined) throw cliErrors.CLI_ERR_USAGE('--at district/subdistrict/grid[/building] is required');
  if (kind === 'console' && values.departments === undefined) throw cliErrors.CLI_ERR_USAGE('--departments a,b is required for a console');
  const place: Place = values.at === undefined ? { district: '', subdistrict: '', grid: '', building: '' } : parsePlace(values.at);
  const departments = values.departments?.split(',').map((d) => d.trim()).filter((d) => d !== '');
  const withDepartments = departments === undefined ? {} : { departments };
  const sensors = values.sensors === undefined ? undefined : parseSensorList(values.sensors);
  const maxSensors = parseMaxSensors(values['max-sensors']);
  const withSensors = { ...(sensors === undefined ? {} : { sensors }), ...(maxSensors === undefined ? {} : { maxSensors }) };
  const created =
    target.api !== undefined
      ? ((await callApi(target, 'POST', '/v1/devices', { id, kind, ...(values.at === undefined ? {} : { place: values.at }), ...withDepartments, ...withSensors })) as { id: string; secret: string })
      : await withStore(target, async (registry, known) => {
          // As the API does: the caps are checked before the device exists.
          if (sensors !== undefined) known.checkRoom(id, sensors, maxSensors);
          const added = await registry.add({ id, kind, place, ...withDepartments, ...(maxSensors === undefined ? {} : { maxSensors }) });
          if (sensors !== undefined && sensors.length > 0) await known.declare(id, sensors);
          return added;
        });
  if (values.json) {
    out.write(`${JSON.stringify({ id: created.id, kind, place: values.at ?? null, ...withDepartments, username: created.id, secret: created.secret })}\n`);
    return;
  }
  out.write(
    `device ${created.id} provisioned (${kind}${values.at === undefined ? '' : ` at ${values.at}`}${departments === undefined ? '' : `, departments ${departments.join(', ')}`})\n` +
      `  MQTT username: ${created.id}   (client id: ${created.id})\n` +
      `  secret:        ${created.secret}\n` +
      `The secret is shown once and stored only as a hash: keep it now.\n`,
  );
}
