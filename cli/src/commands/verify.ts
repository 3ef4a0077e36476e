import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createImageCodeReader, type ImageCodeReader } from '@cityops/edge-agent';
import { createCodeDecoder } from '@cityops/protocol';
import {
  ACCEPT_ALL_POLICY,
  buildPolicySnapshot,
  buildRevocationSnapshot,
  buildStatusSnapshot,
  compileTrustChecks,
  createSourceReader,
  isCodeValid,
  parseRevocationList,
  parseStatusFeed,
  parseVenuePolicies,
  readTrustList,
  type TrustSnapshot,
  verifyCode,
  type Verdict,
  type VerificationContext,
} from '@cityops/verifier';
import { cliErrors } from '../cli-errors.ts';
import { readTrustOptions, trustOptions, trustOptionsUsage, type TrustOptionValues } from '../trust-options.ts';
import { verifyImages } from './verify-images.ts';

export const verifyUsage = `cityops verify --trust FILE|URL [--at ISO-8601] [--revocation FILE] [--status FILE] [--policies FILE] [--venue ID] [--clock-skew-ms N]
               ${trustOptionsUsage}
  --trust takes our trust file, an EU DCC Gateway trust list (/trustList, /trustList/DSC) or a national
  backend's signed DSC list (signature line + JSON), told apart by content. --trust-signer: the key or
  certificate that signs the national list (required for one); --trust-anchor: gateway trust anchor(s),
  then every entry's CMS signature is checked; --trust-csca: CSCAs every DSC must be issued by.
  reads QR codes from stdin, one a line: the raw QR text, or JSON {"qr": "...", "at": "...", "venue": "..."}
  ("at", ISO-8601 or ms, overrides the clock for that line); writes one JSON line per input, in order:
  {"valid": true|false, "verdict": "allow"|"deny", "reason": "CODE", "kind": "..."|null, "detail"?: "..."}
  valid: the code is genuine, current and not revoked; verdict: also under the status feed and the policy
  (without --policies every kind, colour and DCC type is accepted). Blank lines are skipped.
cityops verify --trust FILE [options above] --image PNG_OR_JPEG [PNG_OR_JPEG...] [--max-image-bytes 16777216]
  reads the QR codes in each image instead of stdin: one line per code, in order, the verdict above plus
  "image" (the path) and "qr" (the text read); an image showing several codes gives a line for each (at most 4);
  none readable: {"image", "qr": null, "valid": false, "verdict": "deny", "reason": "NO_CODE_IN_IMAGE", ...};
  a file missing, over --max-image-bytes, declaring over 40 M pixels, not PNG/JPEG or corrupt:
  {"image", "qr": null, "error": "IMAGE_ERR_IO|IMAGE_ERR_TOO_LARGE|IMAGE_ERR_FORMAT|IMAGE_ERR_UNREADABLE", "message"}.`;

const DEFAULT_SKEW_MS = 30_000;
/** The verifier's default maxSourceBytes. */
const MAX_TRUST_BYTES = 268_435_456;

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw cliErrors.CLI_ERR_USAGE(`cannot read ${path}: ${(err as Error).message}`);
  }
}

function parseTime(text: string | number, what: string): number {
  const ms = typeof text === 'number' ? text : /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new Error(`${what} is not a time: ${JSON.stringify(text).slice(0, 60)}`);
  return ms;
}

/** The trust list in any format the verifier reads, checked with the signer, anchors and CSCAs given. */
async function loadTrust(values: TrustOptionValues & { trust: string }): Promise<TrustSnapshot> {
  const { checks, problems } = compileTrustChecks(await readTrustOptions(values), '');
  if (checks === undefined) throw cliErrors.CLI_ERR_USAGE(`the trust options: ${problems.join('; ')}`);
  // The verifier's reader: bounded as its sources are (a file, or an http(s) URL).
  const reader = createSourceReader(values.trust, { maxBytes: MAX_TRUST_BYTES, timeoutMs: 30_000 }, { now: Date.now });
  let bytes: Buffer | undefined;
  try {
    bytes = (await reader.read()).bytes;
  } catch (err) {
    throw cliErrors.CLI_ERR_USAGE(`cannot read --trust: ${(err as Error).message}`);
  }
  return readTrustList(bytes ?? Buffer.alloc(0), 1, checks);
}

async function loadContext(values: TrustOptionValues & { trust: string; revocation?: string | undefined; status?: string | undefined; policies?: string | undefined }): Promise<VerificationContext> {
  return {
    generation: 1,
    trust: await loadTrust(values),
    revocation: values.revocation === undefined ? buildRevocationSnapshot({}, 0, 1e-6) : parseRevocationList(await readText(values.revocation), 1, 1e-6),
    status: values.status === undefined ? buildStatusSnapshot([], 0) : parseStatusFeed(await readText(values.status), 1),
    policies: values.policies === undefined ? buildPolicySnapshot({}, 0, ACCEPT_ALL_POLICY) : parseVenuePolicies(await readText(values.policies), 1),
    // No maximum age: the files given are the data, whatever their age.
    freshness: {},
  };
}

interface Line {
  readonly qr: string;
  readonly at?: number;
  readonly venue?: string;
}

/** A raw QR text, or a JSON object with `qr` and optional `at` and `venue`. */
function readLine(text: string): Line {
  if (!text.startsWith('{')) return { qr: text };
  const value = JSON.parse(text) as { qr?: unknown; at?: unknown; venue?: unknown };
  if (typeof value.qr !== 'string' || value.qr === '') throw new Error('"qr" must be a non-empty string');
  if (value.venue !== undefined && typeof value.venue !== 'string') throw new Error('"venue" must be a string');
  if (value.at !== undefined && typeof value.at !== 'string' && typeof value.at !== 'number') throw new Error('"at" must be ISO-8601 or ms');
  return {
    qr: value.qr,
    ...(value.at === undefined ? {} : { at: parseTime(value.at, '"at"') }),
    ...(value.venue === undefined ? {} : { venue: value.venue }),
  };
}

function output(verdict: Verdict, about: Record<string, unknown> = {}): string {
  const line = {
    ...about,
    valid: isCodeValid(verdict.reason),
    verdict: verdict.verdict,
    reason: verdict.reason,
    kind: verdict.kind,
    ...(verdict.detail === undefined ? {} : { detail: verdict.detail }),
  };
  return `${JSON.stringify(line)}\n`;
}

/**
 * `cityops verify`: the verifier's core on this thread, over lines of stdin; no service, no pool,
 * no warehouse. One output line per input line, in order, whatever the input holds.
 */
export async function verifyCommand(argv: string[], out: NodeJS.WritableStream, input: NodeJS.ReadableStream = process.stdin): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      trust: { type: 'string' },
      at: { type: 'string' },
      revocation: { type: 'string' },
      status: { type: 'string' },
      policies: { type: 'string' },
      venue: { type: 'string' },
      'clock-skew-ms': { type: 'string' },
      ...trustOptions,
      image: { type: 'string', multiple: true },
      'max-image-bytes': { type: 'string' },
    },
    // Paths after --image: `--image a.png b.jpg`.
    allowPositionals: true,
  });
  if (values.trust === undefined) throw cliErrors.CLI_ERR_USAGE(`--trust FILE is required\n\n${verifyUsage}`);
  let fixedNow: number | undefined;
  try {
    fixedNow = values.at === undefined ? undefined : parseTime(values.at, '--at');
  } catch (err) {
    throw cliErrors.CLI_ERR_USAGE((err as Error).message);
  }
  const skew = values['clock-skew-ms'] === undefined ? DEFAULT_SKEW_MS : Number(values['clock-skew-ms']);
  if (!Number.isSafeInteger(skew) || skew < 0) throw cliErrors.CLI_ERR_USAGE('--clock-skew-ms must be a non-negative integer');
  const context = await loadContext({ ...values, trust: values.trust });
  const decoder = createCodeDecoder();
  if (values.image !== undefined) {
    const maxFileBytes = values['max-image-bytes'] === undefined ? undefined : Number(values['max-image-bytes']);
    let reader: ImageCodeReader;
    try {
      reader = createImageCodeReader(maxFileBytes === undefined ? {} : { maxFileBytes });
    } catch (err) {
      throw cliErrors.CLI_ERR_USAGE(`--max-image-bytes: ${(err as Error).message}`);
    }
    const check = (qr: string) => verifyCode(qr, context, decoder, { now: fixedNow ?? Date.now(), venue: values.venue, clockSkewMs: skew, staleAction: 'warn' }).verdict;
    for await (const line of verifyImages([...values.image, ...positionals], reader, check)) {
      const text = 'error' in line ? `${JSON.stringify(line)}\n` : output(line.verdict, { image: line.image, qr: line.qr });
      if (!out.write(text)) await once(out, 'drain');
    }
    return;
  }
  if (positionals.length > 0) throw cliErrors.CLI_ERR_USAGE(`unexpected ${positionals[0]} (image paths go after --image)`);

  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const raw of lines) {
    const text = raw.trim();
    if (text === '') continue;
    let verdict: Verdict;
    try {
      const line = readLine(text);
      verdict = verifyCode(line.qr, context, decoder, {
        now: line.at ?? fixedNow ?? Date.now(),
        venue: line.venue ?? values.venue,
        clockSkewMs: skew,
        staleAction: 'warn',
      }).verdict;
    } catch (err) {
      verdict = { verdict: 'deny', reason: 'MALFORMED_REQUEST', kind: null, detail: (err as Error).message.slice(0, 200) };
    }
    if (!out.write(output(verdict))) await once(out, 'drain');
  }
}
