import { parseArgs } from 'node:util';
import { DEVICE_KINDS, parsePlace, PLACED_DEVICE_KINDS, type DeviceKind, type Place } from '@cityops/protocol';
import { createDeviceRegistry, openWarehouse } from '@cityops/warehouse';
import { cliErrors } from '../cli-errors.ts';
import { warehouseConfigFrom } from '../store-option.ts';

export const deviceUsage = `cityops device add <id> --kind gateway|scanner|service|console [--at district/subdistrict/grid[/building]] [--departments a,b]
  --at is required for gateways and scanners; --departments for a console (the alert topics it may read)
cityops device revoke <id>
  where the registry is: --api URL --token T (a running cityops), or --store URL, or --data DIR (default .cityops)
  --json   print the credentials as JSON`;

interface Target {
  readonly api?: string | undefined;
  readonly token?: string | undefined;
  readonly store?: string | undefined;
  readonly data: string;
}

async function callApi(target: Target, method: string, path: string, body?: unknown): Promise<unknown> {
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

async function withRegistry<T>(target: Target, fn: (registry: ReturnType<typeof createDeviceRegistry>) => Promise<T>): Promise<T> {
  const warehouse = await openWarehouse(warehouseConfigFrom(target));
  const registry = createDeviceRegistry({ refreshMs: 60_000 }, { warehouse });
  try {
    await registry.start();
    return await fn(registry);
  } finally {
    await registry.stop();
    await warehouse.close();
  }
}

export async function deviceCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kind: { type: 'string' },
      at: { type: 'string' },
      departments: { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      store: { type: 'string' },
      data: { type: 'string', default: '.cityops' },
      json: { type: 'boolean', default: false },
    },
  });
  const [verb, id] = positionals;
  if (id === undefined || (verb !== 'add' && verb !== 'revoke')) throw cliErrors.CLI_ERR_USAGE(deviceUsage);
  const target: Target = { api: values.api, token: values.token, store: values.store, data: values.data };

  if (verb === 'revoke') {
    if (target.api !== undefined) await callApi(target, 'DELETE', `/v1/devices/${encodeURIComponent(id)}`);
    else await withRegistry(target, (registry) => registry.revoke(id));
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
  const created =
    target.api !== undefined
      ? ((await callApi(target, 'POST', '/v1/devices', { id, kind, ...(values.at === undefined ? {} : { place: values.at }), ...withDepartments })) as { id: string; secret: string })
      : await withRegistry(target, (registry) => registry.add({ id, kind, place, ...withDepartments }));
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
