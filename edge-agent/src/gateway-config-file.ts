import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { compileSchemaCheck, deepFreeze } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { gatewayAgentConfigSchema, type GatewayAgentConfigInput } from './agent-config.ts';
import { agentErrors } from './errors.ts';
import { simulatedSourceConfigSchema, type SimulatedSourceConfig } from './simulated-source.ts';

/** Where an installed gateway reads its configuration (edge-agent/deploy/cityops-gateway.service). */
export const DEFAULT_GATEWAY_CONFIG_FILE = '/etc/cityops/gateway.json';

/** Larger is not a configuration: refused before it is read. */
const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_PEM_BYTES = 256 * 1024;

const path = { type: 'string', minLength: 1, maxLength: 4096 } as const;

/**
 * The gateway's configuration file: the agent's own settings (gatewayAgentConfigSchema: deviceId,
 * mqtt, batch, journal), with `journalDir` defaulting to `$STATE_DIRECTORY/journal` under systemd;
 * secrets and certificates by file, never inline, so the file itself may be world-readable; the
 * source of readings; the log level.
 */
export const gatewayConfigFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['deviceId', 'mqtt'],
  properties: {
    ...gatewayAgentConfigSchema.properties,
    /**
     * Files read once at start. `%d/` at the start of a path is systemd's credentials directory
     * ($CREDENTIALS_DIRECTORY, LoadCredential=): the unit passes the secret without the service user
     * being able to read the original. A secret file must not be readable by group or others.
     */
    files: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { secret: path, ca: path, cert: path, key: path },
    },
    /**
     * Where readings come from: JSON lines on stdin, simulated sensors (field tests of the link), or
     * a Modbus register map (`map`: its file, relative to this one; edge-agent/examples/).
     */
    source: {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      default: { kind: 'stdin' },
      properties: {
        kind: { enum: ['stdin', 'simulated', 'modbus'] },
        simulated: simulatedSourceConfigSchema,
        map: path,
      },
    },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
} as const;

type FileConfig = FromSchema<typeof gatewayConfigFileSchema>;

export type GatewaySourceSpec =
  | { readonly kind: 'stdin' }
  | { readonly kind: 'simulated'; readonly config: SimulatedSourceConfig }
  | { readonly kind: 'modbus'; readonly mapFile: string };

export interface GatewayFileSettings {
  readonly agent: GatewayAgentConfigInput;
  readonly source: GatewaySourceSpec;
  readonly logLevel: FileConfig['logLevel'];
}

const checkFile = compileSchemaCheck(gatewayConfigFileSchema, { useDefaults: true });

type Env = Readonly<Record<string, string | undefined>>;

/** `%d/x` under $CREDENTIALS_DIRECTORY; other paths relative to the config file's directory. */
function resolvePath(p: string, base: string, env: Env, problems: string[], where: string): string | undefined {
  if (p.startsWith('%d/')) {
    const credentials = env.CREDENTIALS_DIRECTORY;
    if (credentials === undefined) {
      problems.push(`${where}: ${p} names a systemd credential, but $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit)`);
      return undefined;
    }
    return join(credentials, p.slice(3));
  }
  return isAbsolute(p) ? p : join(base, p);
}

async function readSmall(file: string, where: string, problems: string[], secret: boolean): Promise<string | undefined> {
  try {
    const info = await stat(file);
    if (!info.isFile() || info.size > MAX_PEM_BYTES) {
      problems.push(`${where}: ${file} is not a regular file of at most ${MAX_PEM_BYTES} bytes`);
      return undefined;
    }
    // As ssh does with a private key: a secret others can read is a secret no more.
    if (secret && (info.mode & 0o077) !== 0) {
      problems.push(`${where}: ${file} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
      return undefined;
    }
    return await readFile(file, 'utf8');
  } catch (err) {
    problems.push(`${where}: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return undefined;
  }
}

/**
 * Reads and validates the gateway's configuration file once: the schema, then the files it names;
 * every problem is reported together in one AGENT_ERR_CONFIG_FILE naming the file. The agent's own
 * checks (createGatewayAgent) run on the result as on any other configuration.
 */
export async function loadGatewayConfigFile(file: string, env: Env): Promise<GatewayFileSettings> {
  const fail = (problems: readonly string[]) => agentErrors.AGENT_ERR_CONFIG_FILE(`${file}: ${problems.join('; ')}`);
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile() || info.size > MAX_CONFIG_BYTES) throw fail([`not a regular file of at most ${MAX_CONFIG_BYTES} bytes`]);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'AGENT_ERR_CONFIG_FILE') throw err;
    throw fail([`cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail([`not JSON: ${(err as Error).message}`]);
  }
  const problems = checkFile(value);
  if (problems.length > 0) throw fail(problems);
  const config = value as FileConfig;
  const base = file.slice(0, Math.max(0, file.lastIndexOf('/'))) || '/';
  const { files, source, logLevel, ...agent } = config;
  if (source.kind === 'simulated' && source.simulated === undefined) problems.push('/source/simulated is required with kind simulated');
  if (source.kind === 'modbus' && source.map === undefined) problems.push('/source/map (the register map file) is required with kind modbus');
  const mapFile = source.map === undefined ? undefined : resolvePath(source.map, base, env, problems, '/source/map');
  let journalDir = agent.journalDir;
  if (journalDir === undefined) {
    // StateDirectory= may name several, separated by colons: the first is the gateway's.
    const state = env.STATE_DIRECTORY?.split(':')[0];
    if (state === undefined || state === '') problems.push('/journalDir is required unless systemd sets $STATE_DIRECTORY (StateDirectory= in the unit)');
    else journalDir = join(state, 'journal');
  }
  const read = async (key: 'secret' | 'ca' | 'cert' | 'key') => {
    const p = files[key];
    if (p === undefined) return undefined;
    const resolved = resolvePath(p, base, env, problems, `/files/${key}`);
    return resolved === undefined ? undefined : readSmall(resolved, `/files/${key}`, problems, key === 'secret' || key === 'key');
  };
  const [secret, ca, cert, key] = [await read('secret'), await read('ca'), await read('cert'), await read('key')];
  if (secret !== undefined && agent.mqtt.password !== undefined) problems.push('/files/secret and /mqtt/password: give the secret once, by file');
  if (problems.length > 0) throw fail(problems);
  const tls = { ...agent.mqtt.tls, ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
  return deepFreeze({
    agent: {
      ...agent,
      journalDir: journalDir!,
      mqtt: {
        ...agent.mqtt,
        // A trailing newline is the editor's, not the secret's.
        ...(secret === undefined ? {} : { password: secret.replace(/\r?\n$/, '') }),
        ...(Object.keys(tls).length === 0 ? {} : { tls }),
      },
    },
    source: source.kind === 'simulated' ? { kind: 'simulated', config: source.simulated! } : source.kind === 'modbus' ? { kind: 'modbus', mapFile: mapFile! } : { kind: 'stdin' },
    logLevel,
  });
}
