import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  algForKey,
  CODE_ALGS,
  CODE_KINDS,
  createCodeIssuer,
  createDevelopmentIssuer,
  DCC_CERTIFICATE_TYPES,
  HEALTH_COLOURS,
  keyFitsAlg,
  SITE_RISKS,
  type CodeAlg,
  type CodeKind,
  type DccCertificateType,
  type DccPayload,
  type HealthColour,
  type SiteRisk,
} from '@cityops/protocol';
import { cliErrors } from '../cli-errors.ts';
import { licenceFromOptions, licenceIssueCommand, licenceIssueNotes } from './codes-licence.ts';

export const codesUsage = `cityops codes keygen --out DIR [--alg ES256|EdDSA|PS256] [--issuer NAME] [--kinds health-code,site-code,eu-dcc,licence]
                     [--dcc-types v,t,r] [--licence-types T,T --licence-regions CN-XX,... [--cross-region]] [--public-key] [--force]
  makes a development signing key: DIR/private-key.pem, DIR/certificate.pem (self-signed) and DIR/trust.json
  (a trust file for cityops verify --trust); prints {"kid", "alg", "issuer", "kinds", ...} as JSON.
  --public-key: trust the bare key (kid over the SPKI) instead of the certificate (kid over the certificate).
  --licence-types/--licence-regions: a licensing authority's key (kind licence): the licence types its trust
  entry lets it sign, for which regions; --cross-region: its licences count beyond the verifier's homeRegion.
cityops codes issue --kind health-code --subject S [--colour green|yellow|red] [--last-test ISO-8601] ...
cityops codes issue --kind site-code --venue V --at district/subdistrict/grid[/building] [--risk low|medium|high] ...
cityops codes issue --kind eu-dcc --dcc-json FILE ...
${licenceIssueCommand}
    ... --key FILE --kid BASE64 [--alg ES256|EdDSA|PS256] [--issuer NAME] [--valid-minutes N] [--issued-at ISO-8601]
  mints one code with a local development key and prints its QR text. --alg defaults to the key's own;
  --issuer defaults to "cityops-dev" (for eu-dcc, use the issuing country's two-letter code).
${licenceIssueNotes}
  For demos and tests only: these keys are not production keys.`;

const DEFAULT_ISSUER = 'cityops-dev';

function usage(detail: string): never {
  throw cliErrors.CLI_ERR_USAGE(`${detail}\n\n${codesUsage}`);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) usage(`${option} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function listOf<T extends string>(value: string | undefined, allowed: readonly T[], option: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) usage(`${option} needs at least one of ${allowed.join(', ')}`);
  return [...new Set(items.map((item) => oneOf(item, allowed, option)!))];
}

function time(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) usage(`${option} must be an ISO-8601 time, got ${JSON.stringify(value)}`);
  return ms;
}

function minutes(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) usage(`--valid-minutes must be a whole number of minutes, got ${JSON.stringify(value)}`);
  return Number(value);
}

async function readInput(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    return usage(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

async function loadKey(path: string): Promise<KeyObject> {
  const text = await readInput(path, 'key');
  try {
    return createPrivateKey(text);
  } catch (err) {
    return usage(`${path} is not a private key in PEM: ${(err as Error).message}`);
  }
}

function kidOf(text: string): Buffer {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) usage(`--kid must be base64, got ${JSON.stringify(text)}`);
  return Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
}

async function issue(values: Record<string, string | boolean | undefined>, out: NodeJS.WritableStream): Promise<void> {
  const str = (name: string) => values[name] as string | undefined;
  const kind = oneOf(str('kind'), CODE_KINDS, '--kind') ?? usage('--kind is required');
  const keyPath = str('key') ?? usage('--key FILE is required (see cityops codes keygen)');
  const kidText = str('kid') ?? usage('--kid BASE64 is required (printed by cityops codes keygen, and in its trust.json)');
  const privateKey = await loadKey(keyPath);
  const alg = oneOf(str('alg'), CODE_ALGS, '--alg') ?? algForKey(privateKey) ?? usage(`the key in ${keyPath} fits none of ${CODE_ALGS.join(', ')}`);
  if (!keyFitsAlg(privateKey, alg)) usage(`the key in ${keyPath} is not a ${alg} key`);
  const issuer = createCodeIssuer({ kid: kidOf(kidText), privateKey, alg, issuer: str('issuer') ?? DEFAULT_ISSUER });
  const timing = { issuedAt: time(str('issued-at'), '--issued-at'), validMinutes: minutes(str('valid-minutes')) };
  let qr: string;
  switch (kind) {
    case 'health-code':
      qr = issuer.issueHealthCode({
        subject: str('subject') ?? usage('--subject is required for a health code'),
        colour: oneOf<HealthColour>(str('colour'), HEALTH_COLOURS, '--colour') ?? 'green',
        lastTestAt: time(str('last-test'), '--last-test'),
        ...timing,
      });
      break;
    case 'site-code':
      qr = issuer.issueSiteCode({
        venue: str('venue') ?? usage('--venue is required for a site code'),
        place: str('at') ?? usage('--at district/subdistrict/grid[/building] is required for a site code'),
        risk: oneOf<SiteRisk>(str('risk'), SITE_RISKS, '--risk') ?? 'low',
        ...timing,
      });
      break;
    case 'eu-dcc': {
      const path = str('dcc-json') ?? usage('--dcc-json FILE is required for an eu-dcc');
      let payload: DccPayload;
      try {
        payload = JSON.parse(await readInput(path, 'DCC payload')) as DccPayload;
      } catch (err) {
        if ((err as { code?: string }).code === 'CLI_ERR_USAGE') throw err;
        return usage(`${path} is not JSON: ${(err as Error).message}`);
      }
      qr = issuer.issueDcc({ payload, ...timing });
      break;
    }
    case 'licence':
      qr = issuer.issueLicence({ licence: licenceFromOptions(str, usage, oneOf), ...timing });
      break;
  }
  out.write(`${qr}\n`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function keygen(values: Record<string, string | boolean | undefined>, out: NodeJS.WritableStream): Promise<void> {
  const str = (name: string) => values[name] as string | undefined;
  const dir = resolve(str('out') ?? usage('--out DIR is required'));
  const files = { privateKey: join(dir, 'private-key.pem'), certificate: join(dir, 'certificate.pem'), trust: join(dir, 'trust.json') };
  if (values.force !== true) {
    for (const path of Object.values(files)) if (await exists(path)) usage(`${path} exists: keys are never overwritten without --force`);
  }
  const alg = oneOf<CodeAlg>(str('alg'), CODE_ALGS, '--alg') ?? 'ES256';
  const kinds = listOf<CodeKind>(str('kinds'), CODE_KINDS, '--kinds');
  const dccTypes = listOf<DccCertificateType>(str('dcc-types'), DCC_CERTIFICATE_TYPES, '--dcc-types');
  const split = (name: string) => str(name)?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const licenceTypes = split('licence-types');
  const licenceRegions = split('licence-regions');
  if ((licenceTypes === undefined) !== (licenceRegions === undefined)) usage('--licence-types and --licence-regions go together');
  const issuer = createDevelopmentIssuer({
    alg,
    issuer: str('issuer') ?? DEFAULT_ISSUER,
    kinds,
    dccTypes,
    licence: licenceTypes === undefined || licenceRegions === undefined ? undefined : { types: licenceTypes, regions: licenceRegions, crossRegion: values['cross-region'] === true },
    trustForm: values['public-key'] === true ? 'public-key' : 'certificate',
  });
  await mkdir(dir, { recursive: true });
  await writeFile(files.privateKey, issuer.privateKeyPem(), { mode: 0o600 });
  await writeFile(files.certificate, new X509Certificate(issuer.certificate).toString());
  await writeFile(files.trust, `${JSON.stringify([issuer.trustEntry], null, 2)}\n`);
  out.write(
    `${JSON.stringify({ kid: issuer.trustEntry.kid, alg: issuer.alg, issuer: issuer.issuer, kinds: issuer.kinds, ...files })}\n`,
  );
}

/** `cityops codes keygen|issue`: a local development issuer for demos and tests. */
export async function codesCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      // keygen
      out: { type: 'string' },
      kinds: { type: 'string' },
      'dcc-types': { type: 'string' },
      'public-key': { type: 'boolean' },
      'licence-types': { type: 'string' },
      'licence-regions': { type: 'string' },
      'cross-region': { type: 'boolean' },
      force: { type: 'boolean' },
      // issue
      kind: { type: 'string' },
      key: { type: 'string' },
      kid: { type: 'string' },
      subject: { type: 'string' },
      colour: { type: 'string' },
      'last-test': { type: 'string' },
      venue: { type: 'string' },
      at: { type: 'string' },
      risk: { type: 'string' },
      'dcc-json': { type: 'string' },
      holder: { type: 'string' },
      'holder-kind': { type: 'string' },
      type: { type: 'string' },
      integrates: { type: 'string' },
      number: { type: 'string' },
      region: { type: 'string' },
      scope: { type: 'string' },
      status: { type: 'string' },
      'valid-minutes': { type: 'string' },
      'issued-at': { type: 'string' },
      // both
      alg: { type: 'string' },
      issuer: { type: 'string' },
    },
  });
  const [verb, ...extra] = positionals;
  if (extra.length > 0) usage(`unexpected ${JSON.stringify(extra.join(' '))}`);
  if (verb === 'issue') return issue(values, out);
  if (verb === 'keygen') return keygen(values, out);
  return usage(verb === undefined ? 'keygen or issue?' : `unknown verb ${JSON.stringify(verb)}`);
}
