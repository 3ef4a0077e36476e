import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { memoryEnv } from '../../test-peers/memory-env.ts';

// No Docker engine here: the scaled deployment is checked by reading it. What can be checked
// without running containers is: the shape (services, health checks, volumes, dependencies), that
// the cluster is wired as ingest needs it (one Redis, distinct instance names and WAL volumes), and
// that every cityops command line parses with the CLI as it is.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = 'cli/src/main.ts';
const run = promisify(execFile);

interface Service {
  image?: string;
  command?: string[] | string;
  entrypoint?: string[];
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[]; interval?: string; retries?: number };
  configs?: { source: string; target: string }[];
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  configs: Record<string, { content: string }>;
}

let compose: Compose;
beforeAll(async () => {
  compose = parse(await readFile(`${ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as Compose;
});

const ONE_SHOT = ['deps', 'issuer'];
/** `${NAME:-default}` as Compose interpolates it when NAME is unset. */
const interpolate = (arg: string) => arg.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

/** The cityops argument lists of a service (a command array, or `sh -c` text running cityops). */
function cityopsArgs(service: Service): string[][] {
  const command = service.command;
  if (command === undefined) return [];
  const words = typeof command === 'string' ? [command] : command;
  const at = words.indexOf(MAIN);
  if (at >= 0) return [words.slice(at + 1).map(interpolate)];
  return words
    .filter((w) => w.includes(MAIN))
    .flatMap((text) => [...text.matchAll(/cli\/src\/main\.ts\s+([^&|;]+)/g)].map((m) => m[1]!.trim().split(/\s+/).map(interpolate)));
}

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at < 0 ? undefined : args[at + 1];
}

function namedVolumes(service: Service): { name: string; target: string }[] {
  return (service.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([source]) => source !== undefined && !source.startsWith('.') && !source.startsWith('/'))
    .map(([name, target]) => ({ name: name!, target: target! }));
}

describe('docker-compose.yml (the scaled deployment)', () => {
  it('has the scaled shape, every long-running service with a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['analytics', 'clickhouse', 'deps', 'grafana', 'ingest-a', 'ingest-b', 'issuer', 'prometheus', 'redis', 'verifier-1', 'verifier-2'].sort(),
    );
    for (const [name, service] of Object.entries(compose.services)) {
      if (ONE_SHOT.includes(name)) continue;
      expect(service.healthcheck?.test.length, name).toBeGreaterThan(1);
      expect(service.healthcheck?.retries, name).toBeGreaterThan(0);
    }
  });

  it('declares every named volume and config it uses, binds only paths that exist, depends only on services that exist', async () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const { name: volume } of namedVolumes(service)) expect(Object.keys(compose.volumes), `${name}: ${volume}`).toContain(volume);
      for (const bind of (service.volumes ?? []).filter((v) => v.startsWith('./'))) await access(`${ROOT}${bind.split(':')[0]!.slice(2)}`);
      for (const config of service.configs ?? []) expect(Object.keys(compose.configs), name).toContain(config.source);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(compose.services), `${name} -> ${dependency}`).toContain(dependency);
        if (condition === 'service_healthy') expect(compose.services[dependency]!.healthcheck, `${name} -> ${dependency}`).toBeDefined();
        else expect(condition).toBe('service_completed_successfully');
      }
    }
  });

  it('runs two ingest instances sharing one Redis, each with its own WAL volume and instance name', () => {
    const instances = ['ingest-a', 'ingest-b'].map((name) => {
      const service = compose.services[name]!;
      const [args] = cityopsArgs(service);
      expect(args?.[0]).toBe('ingest');
      const data = option(args!, '--data');
      const wal = namedVolumes(service).find((v) => v.target === data);
      expect(wal, `${name}: --data on a volume of its own`).toBeDefined();
      expect(service.depends_on?.redis?.condition).toBe('service_healthy');
      return { redis: option(args!, '--redis'), instance: option(args!, '--instance'), wal: wal!.name, mqtt: service.ports?.find((p) => p.endsWith(':1883')) };
    });
    expect(instances[0]!.redis).toBe('redis://redis:6379');
    expect(instances[1]!.redis).toBe(instances[0]!.redis);
    expect(new Set(instances.map((i) => i.instance)).size).toBe(2);
    expect(new Set(instances.map((i) => i.wal)).size).toBe(2);
    expect(new Set(instances.map((i) => i.mqtt)).size).toBe(2);
  });

  it('runs two verifiers, each its own service device and data, one pseudonym key', () => {
    const verifiers = ['verifier-1', 'verifier-2'].map((name) => {
      const service = compose.services[name]!;
      const [args] = cityopsArgs(service);
      expect(args?.[0]).toBe('verifier');
      return { id: option(args!, '--service-id'), key: option(args!, '--pseudonym-key-file'), data: namedVolumes(service).find((v) => v.target === option(args!, '--data'))?.name };
    });
    expect(new Set(verifiers.map((v) => v.id)).size).toBe(2);
    expect(new Set(verifiers.map((v) => v.data)).size).toBe(2);
    expect(verifiers[0]!.key).toBe(verifiers[1]!.key);
  });

  it('scrapes every instance with the ops kit rules, and provisions the ops kit dashboard in Grafana', async () => {
    const prometheus = parse(compose.configs['prometheus-config']!.content) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((s) => s.targets));
    expect(targets.sort()).toEqual(['analytics:8082', 'ingest-a:8080', 'ingest-b:8080', 'verifier-1:8081', 'verifier-2:8081']);
    // The jobs the ops kit's rules and dashboard expect.
    const kit = parse(await readFile(`${ROOT}ops/prometheus/prometheus.yml`, 'utf8')) as typeof prometheus;
    expect(prometheus.scrape_configs.map((j) => j.job_name).sort()).toEqual(kit.scrape_configs.map((j) => j.job_name).sort());
    const rulesMount = compose.services.prometheus!.volumes!.find((v) => v.startsWith('./ops/prometheus:'))!.split(':')[1]!;
    for (const file of prometheus.rule_files) {
      expect(file.startsWith(`${rulesMount}/`)).toBe(true);
      await access(`${ROOT}ops/prometheus/${file.slice(rulesMount.length + 1)}`);
    }

    const datasources = parse(compose.configs['grafana-datasources']!.content) as { datasources: { uid: string; url: string }[] };
    expect(datasources.datasources[0]!.url).toBe('http://prometheus:9090');
    const entrypoint = compose.services.grafana!.entrypoint!.join(' ');
    expect(entrypoint).toContain(`/${datasources.datasources[0]!.uid}/g`);
    const dashboard = await readFile(`${ROOT}ops/grafana/cityops-dashboard.json`, 'utf8');
    expect(dashboard).toContain('${DS_PROMETHEUS}');
    expect(entrypoint).toContain('/cityops/grafana/cityops-dashboard.json');
  });

  it('starts the brokers with the ingest node flags of scripts/memory.env, and only them', () => {
    const flags = memoryEnv().CITYOPS_INGEST_NODE_FLAGS!.split(' ');
    const started = Object.entries(compose.services).filter(([name, s]) => !ONE_SHOT.includes(name) && Array.isArray(s.command) && s.command.includes(MAIN));
    expect(started.length).toBeGreaterThanOrEqual(5);
    for (const [name, service] of started) {
      const command = service.command as string[];
      const nodeArgs = command.slice(1, command.indexOf(MAIN));
      expect(command[0], name).toBe('node');
      if (command[command.indexOf(MAIN) + 1] === 'ingest') expect(nodeArgs, name).toEqual(expect.arrayContaining(flags));
      else for (const flag of flags) expect(nodeArgs, name).not.toContain(flag);
    }
  });

  it('uses only cityops options that exist', async () => {
    const lines = Object.values(compose.services).flatMap(cityopsArgs);
    expect(lines.map((l) => l[0]).sort()).toEqual(['analytics', 'codes', 'ingest', 'ingest', 'verifier', 'verifier']);
    await Promise.all(
      lines.map(async (args) => {
        // The CLI parses strictly before doing anything: the first unknown option is named, so
        // a probe appended last is named only if every option before it exists.
        const failure = await run(process.execPath, ['--import', 'tsx', `${ROOT}${MAIN}`, ...args, '--compose-probe'], { cwd: ROOT, timeout: 30_000 }).then(
          () => ({ code: 0, stderr: '' }),
          (err: { code?: number; stderr?: string }) => ({ code: err.code ?? 1, stderr: err.stderr ?? '' }),
        );
        expect(failure.stderr, args.join(' ')).toMatch(/^cityops \S+: Unknown option '--compose-probe'/);
        expect(failure.code).toBe(2);
      }),
    );
  });
});
