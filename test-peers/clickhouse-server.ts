import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './free-port.ts';

/** Debian's package (scripts/install-peers.sh); 18.16, enough for the server backend's transport. */
export const CLICKHOUSE_SERVER_BIN = '/usr/sbin/clickhouse-server';

export interface ClickhouseServer {
  /** The HTTP interface, without credentials: `http://127.0.0.1:<httpPort>`. */
  readonly url: string;
  readonly httpPort: number;
  readonly tcpPort: number;
  /** The `default` user's password, random per server (an empty password is refused). */
  readonly username: string;
  readonly password: string;
  /** SIGTERM, wait for the exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface ClickhouseServerOptions {
  /** How long to wait for `GET /ping` to answer. @default 20_000 */
  readonly readyTimeoutMs?: number;
}

const OUTPUT_TAIL_BYTES = 8 * 1024;
const STOP_TIMEOUT_MS = 10_000;

function configXml(dir: string, ports: { http: number; tcp: number; interserver: number }, password: string): string {
  // A whole server in one file: console logging, loopback only, everything under `dir`, and the
  // users/profiles/quotas inline instead of users.xml.
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${ports.http}</http_port>
  <tcp_port>${ports.tcp}</tcp_port>
  <interserver_http_port>${ports.interserver}</interserver_http_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <users>
    <default>
      <password>${password}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;
}

/**
 * Runs a real clickhouse-server in the foreground on free ports from a fresh temp dir, and resolves
 * once `GET /ping` answers. Rejects (with the tail of the server's output) if it exits or is not
 * ready in time; nothing is left behind then.
 */
export async function startClickhouseServer(options: ClickhouseServerOptions = {}): Promise<ClickhouseServer> {
  if (!existsSync(CLICKHOUSE_SERVER_BIN)) {
    throw new Error(`${CLICKHOUSE_SERVER_BIN} is missing: run scripts/install-peers.sh`);
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const dir = await mkdtemp(join(tmpdir(), 'cityops-clickhouse-'));
  const password = randomBytes(12).toString('hex');
  const ports = { http: await freePort(), tcp: await freePort(), interserver: await freePort() };
  const configFile = join(dir, 'config.xml');
  await writeFile(configFile, configXml(dir, ports, password));

  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  const child: ChildProcess = spawn(CLICKHOUSE_SERVER_BIN, [`--config-file=${configFile}`], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      keep(Buffer.from(`\nspawn failed: ${err.message}`));
      resolve(null);
    });
  });
  let running = true;
  void exited.then(() => (running = false));

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (running) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${ports.http}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (!running) {
      await stop();
      throw new Error(`clickhouse-server exited before it was ready; output:\n${output}`);
    }
    if (await answersPing(url)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`clickhouse-server did not answer ${url}/ping within ${readyTimeoutMs} ms; output:\n${output}`);
    }
    // Polling is the only readiness signal the server offers at this log level; ready in ~250 ms.
    await delay(25);
  }
  return { url, httpPort: ports.http, tcpPort: ports.tcp, username: 'default', password, stop };
}

/** One request on its own connection: a kept-alive socket would hold up the server's shutdown. */
function answersPing(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}/ping`, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode === 200));
      res.once('error', () => resolve(false));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}
