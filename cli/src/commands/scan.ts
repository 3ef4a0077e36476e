import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createQrLinesSource, createScannerAgent, type ScannerAgent } from '@cityops/edge-agent';
import { formatPlace } from '@cityops/protocol';
import {
  createScannerCodeMint,
  createScannerFleet,
  DEFAULT_CODE_MIX,
  parseCodeMix,
  planScannerSites,
  readCredentialsFile,
  type ScannerSite,
} from '@cityops/simulators';
import { createVerifierService } from '@cityops/verifier';
import { pino, type Logger } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import { serialOptions, serialSourceFrom, serialUsage } from '../serial-option.ts';
import type { Shutdown } from '../shutdown.ts';
import { readTrustOptions, trustOptions, trustOptionsUsage } from '../trust-options.ts';
import { frameSourceFromOptions, scanFramesUsage } from './scan-frames.ts';

export const scanUsage = `cityops scan --scanner ID --trust FILE|URL [--secret S] [--broker mqtt://127.0.0.1:1883] [--ca FILE]
             [--revocation URL|FILE] [--policies FILE|URL] [--venue ID] [--data DIR] [--timeout-ms 1500] [--upload-wait-ms 5000]
             [--push-key FILE]
  one scanner agent at a door: QR codes from stdin, one a line (the raw text, or {"qr": "...", "venue": "..."}),
  one JSON line per input line, in order: the verdict {"verdict","reason","kind",...,"offline": false|true},
  or {"line": N, "error": "SCANNER_ERR_INPUT_LINE", ...} for a line that is not a code, or
  {"error": "SCANNER_ERR_VENUE_MISMATCH", ...} for a line naming another venue than --venue (the scanner's
  registered place, where the verifier records its checks; without --venue the verifier uses the registry's).
  --trust in any format cityops verify takes, checked with ${trustOptionsUsage} as there.
  It asks the verifier over MQTT (username = client id = the scanner id); when the verifier cannot be heard it
  verifies with its cached trust list (--trust) and revocation filter (--revocation: the verifier's
  /v1/revocation/filter), kept in --data, and says "offline": true. Events of offline verdicts are uploaded
  when the verifier answers again; once stdin ends the command waits up to --upload-wait-ms for them.
  --push-key FILE: the verifier's push key, its public half (PEM): trust list and revocation filter pushed over
  MQTT are applied at once when signed by it and newer; the polls of --trust and --revocation stay the fallback.
${scanFramesUsage}
${serialUsage}
cityops scan --simulate [--scanners 8] [--rate 20] [--count N] [--duration S] [--mix valid=80,expired=5,...] [--seed N]
             [--broker URL] [--credentials FILE] [--service-id ID --service-secret S] [--verifier-port 0] [--data DIR]
  a fleet of scanner agents at venues across the city (--credentials: scanners provisioned on the broker),
  --rate codes per second in all (0: as fast as the doors go), in the --mix of valid, expired, forged,
  revoked, wrong-issuer and malformed codes, against an in-process verifier on the broker (as --service-id
  when the broker authenticates) that trusts the simulation's own issuers. Prints {"ready": true, ...},
  a stats line every 5 s, and at the end (--count codes per scanner, or --duration) {"done": true, ..., "ok"}:
  ok when every class got the verdict it must get.`;

function positive(text: string, what: string, allowZero = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw cliErrors.CLI_ERR_USAGE(`${what} must be a ${allowZero ? 'number >= 0' : 'positive number'}, not ${text}`);
  return n;
}

/** Resolves when the agent reaches the verifier, or after `ms` (it then starts offline). */
function untilOnline(agent: ScannerAgent, ms: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    agent.once('online', () => {
      clearTimeout(timer);
      done();
    });
  });
}

/** Resolves when the spool is empty, or after `ms`. */
async function untilUploaded(agent: ScannerAgent, ms: number): Promise<void> {
  if (agent.stats().spool.pending === 0) return;
  await new Promise<void>((done) => {
    const timer = setTimeout(finish, ms);
    function check() {
      if (agent.stats().spool.pending === 0) finish();
    }
    function finish() {
      clearTimeout(timer);
      agent.off('uploaded', check);
      done();
    }
    agent.on('uploaded', check);
  });
}

async function scanStdin(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown, input: Readable, logger: Logger): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scanner: { type: 'string' },
      secret: { type: 'string' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      ca: { type: 'string' },
      trust: { type: 'string' },
      revocation: { type: 'string' },
      policies: { type: 'string' },
      'push-key': { type: 'string' },
      venue: { type: 'string' },
      data: { type: 'string' },
      'timeout-ms': { type: 'string', default: '1500' },
      'upload-wait-ms': { type: 'string', default: '5000' },
      'connect-wait-ms': { type: 'string', default: '3000' },
      ...trustOptions,
      'frames-command': { type: 'string' },
      'frames-dir': { type: 'string' },
      'presentation-gap-ms': { type: 'string' },
      ...serialOptions,
    },
  });
  if (values.scanner === undefined || values.trust === undefined) throw cliErrors.CLI_ERR_USAGE('--scanner and --trust are required (or --simulate)');
  const agent = createScannerAgent(
    {
      scannerId: values.scanner,
      ...(values.venue === undefined ? {} : { venue: values.venue }),
      dataDir: resolve(values.data ?? `.cityops-scan/${values.scanner}`),
      mqtt: {
        url: values.broker,
        ...(values.secret === undefined ? {} : { password: values.secret }),
        ...(values.ca === undefined ? {} : { tls: { ca: await readFile(values.ca, 'utf8') } }),
      },
      verify: { timeoutMs: positive(values['timeout-ms'], '--timeout-ms') },
      reference: {
        trust: { source: values.trust, ...(await readTrustOptions(values)) },
        ...(values.revocation === undefined ? {} : { revocation: { source: values.revocation } }),
        ...(values.policies === undefined ? {} : { policies: { source: values.policies } }),
        ...(values['push-key'] === undefined ? {} : { push: { publisherKey: await readFile(values['push-key'], 'utf8') } }),
      },
    },
    { logger },
  );
  const onBadLine = (line: number, reason: string) => out.write(`${JSON.stringify({ line, error: 'SCANNER_ERR_INPUT_LINE', message: reason })}\n`);
  const inputs = [values.serial, values['frames-command'], values['frames-dir']].filter((v) => v !== undefined);
  if (inputs.length > 1) throw cliErrors.CLI_ERR_USAGE('one input at a time: --serial, --frames-command or --frames-dir');
  const device = frameSourceFromOptions(values, logger) ?? serialSourceFrom(values, { logger, onBadLine });
  const source = device ?? createQrLinesSource(input, {}, { logger, onBadLine });
  shutdown.add(() => agent.stop());
  shutdown.add(() => source.stop());
  const online = untilOnline(agent, positive(values['connect-wait-ms'], '--connect-wait-ms', true));
  await agent.start();
  await online;
  await agent.consume(
    source,
    (result) => out.write(`${JSON.stringify(result)}\n`),
    // No verdict for it (a line naming another venue than --venue): said in its place, in order.
    (err) => out.write(`${JSON.stringify({ error: err.code, message: err.message })}\n`),
  );
  // A serial line or a camera ends only with a signal: the agent is stopping; its spool is on disk for the next start.
  if (device === undefined) await untilUploaded(agent, positive(values['upload-wait-ms'], '--upload-wait-ms', true));
  const stats = agent.stats();
  logger.info({ ...source.stats(), online: stats.onlineVerdicts, offline: stats.offlineVerdicts, spoolPending: stats.spool.pending }, 'scan done');
  await shutdown.run();
}

async function scanSimulated(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown, logger: Logger): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      simulate: { type: 'boolean' },
      scanners: { type: 'string', default: '8' },
      rate: { type: 'string', default: '20' },
      count: { type: 'string' },
      duration: { type: 'string' },
      mix: { type: 'string' },
      seed: { type: 'string', default: '1' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      credentials: { type: 'string' },
      'service-id': { type: 'string' },
      'service-secret': { type: 'string' },
      'verifier-port': { type: 'string', default: '0' },
      'report-ms': { type: 'string', default: '5000' },
      data: { type: 'string', default: '.cityops-scan-sim' },
    },
  });
  let mix = DEFAULT_CODE_MIX;
  try {
    if (values.mix !== undefined) mix = parseCodeMix(values.mix);
  } catch (err) {
    throw cliErrors.CLI_ERR_USAGE(`--mix: ${(err as Error).message}`);
  }
  const rate = positive(values.rate, '--rate', true);
  const seed = positive(values.seed, '--seed', true);
  const dir = resolve(values.data);
  await mkdir(dir, { recursive: true });

  let sites: ScannerSite[];
  if (values.credentials !== undefined) {
    const devices = await readCredentialsFile(values.credentials);
    sites = devices.map((d) => ({ id: d.id, password: d.secret, venue: formatPlace(d.place), place: d.place }));
  } else {
    sites = planScannerSites({ scanners: positive(values.scanners, '--scanners'), seed });
  }
  if (sites.length === 0) throw cliErrors.CLI_ERR_USAGE('no scanners to simulate');

  // The simulation's own issuers: the verifier trusts them and revokes some of their codes.
  const mint = createScannerCodeMint({ seed });
  const trustPath = join(dir, 'trust.json');
  const revocationPath = join(dir, 'revocation.json');
  await writeFile(trustPath, JSON.stringify(mint.trustEntries));
  await writeFile(revocationPath, JSON.stringify(mint.revocation));
  const serviceId = values['service-id'] ?? 'cityops-verifier-sim';
  const verifier = createVerifierService(
    {
      // The simulation's own verifier keeps no audit (no warehouse) and so no registry: open, judged at
      // the venue each scanner names (its site), recorded nowhere.
      http: { port: positive(values['verifier-port'], '--verifier-port', true), verifyAccess: 'open' },
      mqtt: {
        url: values.broker,
        clientId: serviceId,
        ...(values['service-id'] === undefined ? {} : { username: serviceId }),
        ...(values['service-secret'] === undefined ? {} : { password: values['service-secret'] }),
      },
      trust: { source: trustPath },
      revocation: { source: revocationPath },
    },
    { logger: logger.child({ component: 'verifier' }) },
  );
  shutdown.add(() => verifier.stop());
  const { httpUrl } = await verifier.start();

  const fleet = createScannerFleet(
    {
      brokerUrl: values.broker,
      sites,
      dataRoot: join(dir, 'scanners'),
      trustSource: trustPath,
      revocationSource: `${httpUrl}/v1/revocation/filter`,
      ...(rate === 0 ? {} : { codesPerSecond: rate }),
      ...(values.count === undefined ? {} : { codesPerScanner: positive(values.count, '--count') }),
      mix,
      seed,
    },
    { mint, logger },
  );
  shutdown.add(() => fleet.stop());
  await fleet.start();
  out.write(`${JSON.stringify({ ready: true, scanners: sites.length, verifierUrl: httpUrl, broker: values.broker })}\n`);

  const report = setInterval(() => out.write(`${JSON.stringify({ stats: fleet.stats() })}\n`), positive(values['report-ms'], '--report-ms'));
  report.unref();
  shutdown.add(() => clearInterval(report));
  const duration = values.duration === undefined ? undefined : setTimeout(() => void fleet.stop(), positive(values.duration, '--duration') * 1000);
  shutdown.add(() => clearTimeout(duration));
  await fleet.finished();
  const stats = fleet.stats();
  const check = fleet.check();
  await fleet.stop();
  out.write(`${JSON.stringify({ done: true, ...stats, ok: check.ok, problems: check.problems })}\n`);
  await shutdown.run();
}

/**
 * `cityops scan`: one scanner agent fed by stdin (or `--serial DEVICE`), or `--simulate` a fleet with its own verifier.
 * Returns once stdin ended (and offline events were uploaded, or the wait ran out) or the
 * simulation finished; a signal ends it through `shutdown`.
 */
export async function scanCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown, input: Readable = process.stdin): Promise<void> {
  const logger = pino({ name: 'cityops-scan', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  if (argv.includes('--simulate')) return scanSimulated(argv, out, shutdown, logger);
  return scanStdin(argv, out, shutdown, input, logger);
}
