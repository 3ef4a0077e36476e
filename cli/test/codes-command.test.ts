import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createCodeDecoder, verifyCodeSignature, type DccPayload } from '@cityops/protocol';
import { codesCommand, codesUsage } from '../src/commands/codes.ts';
import { verifyCommand } from '../src/commands/verify.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-codes-'));
  dirs.push(dir);
  return dir;
}

async function run(argv: string[]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await codesCommand(argv, out);
  out.end();
  return Buffer.concat(chunks).toString('utf8');
}

async function failure(argv: string[]): Promise<string> {
  try {
    await run(argv);
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'NO ERROR';
}

interface KeygenOutput {
  kid: string;
  alg: string;
  issuer: string;
  kinds: string[];
  privateKey: string;
  certificate: string;
  trust: string;
}

async function keygen(extra: string[] = []): Promise<KeygenOutput> {
  const dir = await tempDir();
  return JSON.parse(await run(['keygen', '--out', dir, ...extra])) as KeygenOutput;
}

const dcc: DccPayload = {
  ver: '1.3.0',
  nam: { fnt: 'MUSTERMANN', gnt: 'ERIKA' },
  dob: '1964-08-12',
  t: [
    {
      tg: '840539006',
      tt: 'LP217198-3',
      sc: '2026-01-14T10:12:22Z',
      tr: '260415000',
      tc: 'Testing centre XA-1',
      co: 'XA',
      is: 'cityops',
      ci: 'URN:UVCI:01:XA:CLI0000000000000000001#A',
    },
  ],
};

describe('cityops codes', () => {
  const decoder = createCodeDecoder();

  it('keygen writes a private key (0600), a self-signed certificate and a trust file whose kid is the certificate hash', async () => {
    const made = await keygen(['--issuer', 'district-7', '--kinds', 'health-code,site-code']);
    expect(made).toMatchObject({ alg: 'ES256', issuer: 'district-7', kinds: ['health-code', 'site-code'] });
    expect((await stat(made.privateKey)).mode & 0o777).toBe(0o600);
    const trust = JSON.parse(await readFile(made.trust, 'utf8')) as { kid: string; certificate: string; issuer: string; kinds: string[] }[];
    expect(trust).toHaveLength(1);
    const cert = new X509Certificate(await readFile(made.certificate));
    expect(trust[0]!.certificate).toBe(cert.raw.toString('base64'));
    expect(trust[0]!.kid).toBe(createHash('sha256').update(cert.raw).digest().subarray(0, 8).toString('base64'));
    expect(trust[0]).toMatchObject({ kid: made.kid, issuer: 'district-7', kinds: ['health-code', 'site-code'] });
  });

  it('keygen never overwrites a key without --force', async () => {
    const made = await keygen();
    const dir = join(made.privateKey, '..');
    expect(await failure(['keygen', '--out', dir])).toBe('CLI_ERR_USAGE');
    const again = JSON.parse(await run(['keygen', '--out', dir, '--force'])) as KeygenOutput;
    expect(again.kid).not.toBe(made.kid);
  });

  it('keygen --public-key trusts the bare key, kid over the SPKI', async () => {
    const made = await keygen(['--alg', 'EdDSA', '--public-key']);
    const [entry] = JSON.parse(await readFile(made.trust, 'utf8')) as { kid: string; publicKey: string; certificate?: string }[];
    expect(entry!.certificate).toBeUndefined();
    expect(entry!.kid).toBe(createHash('sha256').update(Buffer.from(entry!.publicKey, 'base64')).digest().subarray(0, 8).toString('base64'));
  });

  it('issues a health code that decodes to what was asked and verifies with the certificate', async () => {
    const made = await keygen();
    const out = await run([
      'issue', '--kind', 'health-code', '--subject', 'p-42', '--colour', 'yellow', '--valid-minutes', '30',
      '--issued-at', '2026-01-15T08:00:00Z', '--last-test', '2026-01-14T09:00:00Z', '--key', made.privateKey, '--kid', made.kid,
    ]);
    expect(out).toMatch(/^CHC1:[0-9A-Z $%*+\-./:]+\n$/);
    const decoded = decoder.decode(out.trim());
    expect(decoded).toMatchObject({
      kind: 'health-code',
      alg: 'ES256',
      issuer: 'cityops-dev',
      issuedAt: Date.UTC(2026, 0, 15, 8),
      expiresAt: Date.UTC(2026, 0, 15, 8, 30),
      subject: 'p-42',
      claims: { subject: 'p-42', colour: 'yellow', lastTestAt: Date.UTC(2026, 0, 14, 9) },
    });
    expect(decoded.kid.toString('base64')).toBe(made.kid);
    const cert = new X509Certificate(await readFile(made.certificate));
    expect(verifyCodeSignature(decoded, cert.publicKey)).toBe(true);
  });

  it('issues site codes and DCCs, with the algorithm taken from the key', async () => {
    const made = await keygen(['--alg', 'PS256', '--issuer', 'XA']);
    const site = await run(['issue', '--kind', 'site-code', '--venue', 'venue-9', '--at', 'huangpu/nanjing-east/grid-07', '--risk', 'high', '--key', made.privateKey, '--kid', made.kid, '--issuer', 'huangpu-office']);
    expect(decoder.decode(site.trim())).toMatchObject({
      kind: 'site-code',
      alg: 'PS256',
      issuer: 'huangpu-office',
      claims: { venue: 'venue-9', place: { district: 'huangpu', subdistrict: 'nanjing-east', grid: 'grid-07', building: '' }, risk: 'high' },
    });
    const file = join(await tempDir(), 'dcc.json');
    await writeFile(file, JSON.stringify(dcc));
    const code = await run(['issue', '--kind', 'eu-dcc', '--dcc-json', file, '--key', made.privateKey, '--kid', made.kid, '--issuer', 'XA']);
    expect(code.startsWith('HC1:')).toBe(true);
    expect(decoder.decode(code.trim())).toMatchObject({ kind: 'eu-dcc', alg: 'PS256', issuer: 'XA', codeId: dcc.t[0]!.ci, keyUsage: 't', claims: dcc });
  });

  it('mints codes that cityops verify allows with the trust file keygen wrote', async () => {
    const made = await keygen();
    const qr = (await run(['issue', '--kind', 'health-code', '--subject', 'p-1', '--key', made.privateKey, '--kid', made.kid])).trim();
    const forged = (await run(['issue', '--kind', 'health-code', '--subject', 'p-1', '--key', (await keygen()).privateKey, '--kid', made.kid])).trim();
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await verifyCommand(['--trust', made.trust], out, Readable.from([`${qr}\n${forged}\n`]));
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { verdict: string; kind: string });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ valid: true, verdict: 'allow', kind: 'health-code' });
    expect(lines[1]).toMatchObject({ valid: false, verdict: 'deny', reason: 'BAD_SIGNATURE', kind: 'health-code' });
  });

  it('refuses what it cannot issue, with a code saying why', async () => {
    const made = await keygen();
    const ed = await keygen(['--alg', 'EdDSA']);
    const base = ['--key', made.privateKey, '--kid', made.kid];
    expect(await failure(['issue', '--subject', 'p', ...base])).toBe('CLI_ERR_USAGE'); // no --kind
    expect(await failure(['issue', '--kind', 'passport', ...base])).toBe('CLI_ERR_USAGE');
    expect(await failure(['issue', '--kind', 'health-code', ...base])).toBe('CLI_ERR_USAGE'); // no --subject
    expect(await failure(['issue', '--kind', 'health-code', '--subject', 'p', '--colour', 'blue', ...base])).toBe('CLI_ERR_USAGE');
    expect(await failure(['issue', '--kind', 'health-code', '--subject', 'p', '--valid-minutes', '1h', ...base])).toBe('CLI_ERR_USAGE');
    expect(await failure(['issue', '--kind', 'health-code', '--subject', 'p', '--valid-minutes', '99999', ...base])).toBe('CODE_ERR_ISSUE');
    expect(await failure(['issue', '--kind', 'health-code', '--subject', 'p', '--kid', made.kid])).toBe('CLI_ERR_USAGE'); // no --key
    expect(await failure(['issue', '--kind', 'health-code', '--subject', 'p', '--key', made.privateKey])).toBe('CLI_ERR_USAGE'); // no --kid
    expect(await failure(['issue', '--kind', 'health-code', '--subject', 'p', '--key', made.trust, '--kid', made.kid])).toBe('CLI_ERR_USAGE'); // not a key
    expect(await failure(['issue', '--kind', 'health-code', '--subject', 'p', '--alg', 'EdDSA', ...base])).toBe('CLI_ERR_USAGE'); // key of another alg
    expect(await failure(['issue', '--kind', 'site-code', '--venue', 'v', '--at', 'Not/A/Place', ...base])).toBe('CODE_ERR_ISSUE');
    expect(await failure(['issue', '--kind', 'eu-dcc', '--dcc-json', made.privateKey, ...base])).toBe('CLI_ERR_USAGE'); // not JSON
    const file = join(await tempDir(), 'dcc.json');
    await writeFile(file, JSON.stringify(dcc));
    expect(await failure(['issue', '--kind', 'eu-dcc', '--dcc-json', file, '--key', ed.privateKey, '--kid', ed.kid])).toBe('CODE_ERR_ALG');
    await writeFile(file, JSON.stringify({ ...dcc, dob: 'yesterday' }));
    expect(await failure(['issue', '--kind', 'eu-dcc', '--dcc-json', file, ...base])).toBe('CODE_ERR_SCHEMA');
    expect(await failure(['sign'])).toBe('CLI_ERR_USAGE');
    expect(await failure(['keygen', '--out', await tempDir(), '--kinds', 'health-code,passport'])).toBe('CLI_ERR_USAGE');
    expect(await failure(['keygen', '--out', await tempDir(), '--alg', 'RS256'])).toBe('CLI_ERR_USAGE');
  });

  it('issues licences that cityops verify judges by what the authority’s trust entry allows (issue 23)', async () => {
    const made = await keygen(['--kinds', 'licence', '--licence-types', 'food-business,restaurant-comprehensive', '--licence-regions', 'CN-SH', '--issuer', 'sh-market']);
    const base = ['issue', '--kind', 'licence', '--key', made.privateKey, '--kid', made.kid, '--issuer', 'sh-market', '--region', 'CN-SH'];
    const single = (await run([...base, '--holder', '91310101MA1FPX1234', '--type', 'food-business', '--number', 'JY1', '--scope', 'rest-1'])).trim();
    expect(single.startsWith('CLC1:')).toBe(true);
    expect(decoder.decode(single)).toMatchObject({
      kind: 'licence',
      codeId: 'JY1',
      claims: { holder: '91310101MA1FPX1234', holderKind: 'business', type: 'food-business', number: 'JY1', region: 'CN-SH', scope: 'rest-1', status: 'valid' },
    });
    const comprehensive = (await run([...base, '--holder', 'b-2', '--type', 'restaurant-comprehensive', '--integrates', 'food-business', '--number', 'ZH2'])).trim();
    expect(decoder.decode(comprehensive).claims).toMatchObject({ integrates: ['food-business'] });
    const outside = (await run([...base, '--holder', 'p-3', '--holder-kind', 'person', '--type', 'food-handler-health', '--number', 'FH3'])).trim();
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await verifyCommand(['--trust', made.trust], out, Readable.from([`${single}\n${comprehensive}\n${outside}\n`]));
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { verdict: string; reason: string });
    expect(lines.map((l) => l.reason)).toEqual(['OK', 'OK', 'LICENCE_TYPE_NOT_ALLOWED']);
    expect(await failure([...base, '--holder', 'b-4', '--type', 'food-business'])).toBe('CLI_ERR_USAGE'); // no --number
    expect(await failure([...base, '--holder', 'b-4', '--type', 'food-business', '--number', 'N4', '--status', 'lapsed'])).toBe('CLI_ERR_USAGE');
    expect(await failure([...base, '--holder', 'b-4', '--type', 'Food Business', '--number', 'N4'])).toBe('CODE_ERR_ISSUE');
    expect(await failure(['keygen', '--out', await tempDir(), '--kinds', 'licence'])).toBe('CODE_ERR_ISSUE');
    expect(await failure(['keygen', '--out', await tempDir(), '--licence-types', 'food-business'])).toBe('CLI_ERR_USAGE');
    expect(codesUsage).toContain('cityops codes issue --kind licence');
  });

  it('documents both verbs in its usage', () => {
    expect(codesUsage).toContain('cityops codes keygen --out DIR');
    expect(codesUsage).toContain('cityops codes issue --kind health-code');
  });
});
