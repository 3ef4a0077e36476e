import type { FastifyInstance, FastifyRequest } from 'fastify';
import { compileSchemaCheck, DEVICE_ID_PATTERN, gatewayConfigSchema, MAX_DEVICE_CONFIG_BYTES, type GatewayConfig } from '@cityops/protocol';
import type { DeviceRegistry } from '@cityops/warehouse';
import type { DeviceConfigs } from './device-configs.ts';
import { ingestErrors } from './errors.ts';

const paramsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: DEVICE_ID_PATTERN.source } },
} as const;

const getQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { history: { type: 'integer', minimum: 0, maximum: 1000, default: 20 } },
} as const;

export interface ConfigRoutesDeps {
  readonly registry: DeviceRegistry;
  readonly configs: DeviceConfigs;
  /** Admin token or a token of role admin/operator; resolves to the author's name. */
  readonly requireConfigurer: (request: FastifyRequest) => Promise<string>;
}

/**
 * A gateway's remote configuration (issue 18): PUT sets the next version (kept, then delivered
 * retained over MQTT), GET shows the desired version beside what the device last reported and the
 * recent history. The body is validated against protocol's schema here (400 with every problem);
 * the register map inside it is validated by the gateway, which reports a rejection.
 */
export function configRoutes(app: FastifyInstance, deps: ConfigRoutesDeps, done: (err?: Error) => void): void {
  const { registry, configs } = deps;
  // Checked here rather than by fastify's ajv, which would coerce "50" to 50, drop unknown members
  // silently and stop at the first problem: an operator sees every problem at once, nothing guessed.
  const checkConfig = compileSchemaCheck(gatewayConfigSchema);
  const authors = new WeakMap<FastifyRequest, string>();
  const onRequest = async (request: FastifyRequest) => {
    authors.set(request, await deps.requireConfigurer(request));
  };

  async function gateway(id: string): Promise<void> {
    const device = await registry.find(id);
    if (device === undefined) throw ingestErrors.INGEST_ERR_NO_SUCH_DEVICE(id);
    if (device.kind !== 'gateway') throw ingestErrors.INGEST_ERR_CONFIG_KIND(`${id} is a ${device.kind}`);
  }

  app.put(
    '/v1/devices/:id/config',
    { schema: { params: paramsSchema }, bodyLimit: MAX_DEVICE_CONFIG_BYTES, onRequest },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const problems = checkConfig(request.body);
      if (problems.length > 0) throw ingestErrors.INGEST_ERR_QUERY_INVALID(`configuration: ${problems.join('; ')}`);
      await gateway(id);
      const desired = await configs.set(id, request.body as GatewayConfig, authors.get(request) ?? 'unknown');
      return reply.status(201).send({ device: id, version: desired.version, issuedAt: desired.issuedAt, author: desired.author });
    },
  );

  app.get('/v1/devices/:id/config', { schema: { params: paramsSchema, querystring: getQuerySchema }, onRequest }, async (request) => {
    const { id } = request.params as { id: string };
    await gateway(id);
    const [desired, reported, history] = await Promise.all([
      configs.desired(id),
      configs.reported(id),
      configs.history(id, (request.query as { history: number }).history),
    ]);
    // In sync: the device says it runs the newest version. Pending: it has not said so (offline, or
    // not yet). Rejected: it refused the newest version and runs an older one.
    const status =
      desired === undefined ? 'none' : reported?.version !== desired.version ? 'pending' : reported.state === 'applied' ? 'in-sync' : 'rejected';
    return { device: id, status, desired: desired ?? null, reported: reported ?? null, history };
  });
  done();
}
