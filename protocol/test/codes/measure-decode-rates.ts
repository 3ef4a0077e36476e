/**
 * How fast one core decodes and verifies each kind, beside bare ES256 crypto.verify in the same run:
 *   node --import tsx protocol/test/codes/measure-decode-rates.ts [--seconds 2]
 * Each figure is the median of three rounds. Prints one JSON document. (A quick measurement for CODES.md; the verifier's bench lives in bench/.)
 */
import { execSync } from 'node:child_process';
import { cpus } from 'node:os';
import { sign, verify } from 'node:crypto';
import { createCodeDecoder, verifyCodeSignature, type CodeAlg, type CodeKind, type LicenceClaims } from '@cityops/protocol';
import { dccVaccination } from './dcc-samples.ts';
import { fixtureIssuer } from './fixture-keys.ts';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 2;
const DISTINCT = 2000;
/** A comprehensive restaurant licence: the largest licence variant (two integrated singles, a scope). */
const LICENCE = (i: number): LicenceClaims => ({
  holder: `91310101MA${String(i).padStart(8, '0')}`,
  holderKind: 'business',
  type: 'restaurant-comprehensive',
  integrates: ['food-business', 'public-place-hygiene'],
  number: `JY${String(i).padStart(14, '0')}`,
  region: 'CN-SH',
  scope: 'huangpu/nanjing-east/grid-07/mall-3',
  status: 'valid',
});

/** Median of three timed rounds of `seconds` each, after a warm-up. */
function rate(work: (i: number) => void): number {
  for (let i = 0; i < 500; i++) work(i); // warm up
  const rounds = [round(work), round(work), round(work)].sort((a, b) => a - b);
  return rounds[1]!;
}

function round(work: (i: number) => void): number {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(seconds * 1e9);
  let now = start;
  while (now < end) {
    for (let k = 0; k < 100; k++) work(n++);
    now = process.hrtime.bigint();
  }
  return Math.round(n / (Number(now - start) / 1e9));
}

const results: { kind: CodeKind; alg: CodeAlg; chars: number; decodePerSecond: number; decodeVerifyPerSecond: number }[] = [];
const decoder = createCodeDecoder();
for (const alg of ['ES256', 'EdDSA', 'PS256'] as CodeAlg[]) {
  const issuer = fixtureIssuer(alg, 'XA');
  const kinds: CodeKind[] = alg === 'EdDSA' ? ['health-code', 'site-code', 'licence'] : ['eu-dcc', 'health-code', 'site-code', 'licence'];
  for (const kind of kinds) {
    const codes = Array.from({ length: DISTINCT }, (_, i) =>
      kind === 'health-code'
        ? issuer.issueHealthCode({ subject: `p-${i}`, colour: 'green' })
        : kind === 'site-code'
          ? issuer.issueSiteCode({ venue: `v-${i}`, place: 'huangpu/nanjing-east/grid-07/mall-3', risk: 'low' })
          : kind === 'licence'
            ? issuer.issueLicence({ licence: LICENCE(i) })
            : issuer.issueDcc({ payload: { ...dccVaccination, dob: `19${10 + (i % 89)}-01-01` } }),
    );
    const decodePerSecond = rate((i) => decoder.decode(codes[i % DISTINCT]!));
    const decodeVerifyPerSecond = rate((i) => {
      if (!verifyCodeSignature(decoder.decode(codes[i % DISTINCT]!), issuer.publicKey)) throw new Error('does not verify');
    });
    results.push({ kind, alg, chars: codes[0]!.length, decodePerSecond, decodeVerifyPerSecond });
  }
}

// The peer: bare ES256 verification with a cached KeyObject over distinct messages.
const es = fixtureIssuer('ES256');
const messages = Array.from({ length: DISTINCT }, (_, i) => Buffer.from(`message ${i}`));
const signatures = messages.map((m) => sign('sha256', m, { key: es.privateKey, dsaEncoding: 'ieee-p1363' }));
const bareEs256VerifyPerSecond = rate((i) => {
  verify('sha256', messages[i % DISTINCT]!, { key: es.publicKey, dsaEncoding: 'ieee-p1363' }, signatures[i % DISTINCT]!);
});

let sha = 'unknown';
try {
  sha = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
process.stdout.write(
  `${JSON.stringify({ sha, node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, seconds, bareEs256VerifyPerSecond, results }, null, 2)}\n`,
);
