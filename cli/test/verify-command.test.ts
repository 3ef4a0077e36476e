import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runVerify } from './run-verify.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { identifierHash } from '@cityops/verifier';

const T = Date.UTC(2026, 10, 26, 9, 0, 0);
const MINUTE = 60_000;
const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], now: () => T });
const site = createDevelopmentIssuer({ issuer: 'huangpu-office', kinds: ['site-code'], trustForm: 'public-key', alg: 'EdDSA', now: () => T });
const rogue = createDevelopmentIssuer({ issuer: 'city-health', now: () => T });

const run = runVerify;

describe('cityops verify', () => {
  let dir: string;
  let trust: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-verify-cli-'));
    trust = join(dir, 'trust.json');
    await writeFile(trust, JSON.stringify([health.trustEntry, site.trustEntry]));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one verdict line per input line, in order, with --at and per-line "at"', async () => {
    const green = health.issueHealthCode({ subject: 'p-000001', colour: 'green', validMinutes: 60 });
    const venue = site.issueSiteCode({ venue: 'mall-1', place: 'huangpu/nanjing-east/g001', risk: 'low' });
    const lines = [
      green,
      '',
      JSON.stringify({ qr: green, at: new Date(T + 2 * 60 * MINUTE).toISOString() }),
      JSON.stringify({ qr: green, at: T - 10 * MINUTE }),
      venue,
      rogue.issueHealthCode({ subject: 'p-000002', colour: 'green' }),
      'CHC1:GGW',
      'HELLO',
      '{"qr": 5}',
      '{not json',
      health.issueHealthCode({ subject: 'p-000003', colour: 'red' }),
    ];
    const out = await run(['--trust', trust, '--at', new Date(T + MINUTE).toISOString()], lines);
    expect(out).toEqual([
      { valid: true, verdict: 'allow', reason: 'OK', kind: 'health-code' },
      { valid: false, verdict: 'deny', reason: 'EXPIRED', kind: 'health-code' },
      { valid: false, verdict: 'deny', reason: 'NOT_YET_VALID', kind: 'health-code' },
      { valid: true, verdict: 'allow', reason: 'OK', kind: 'site-code' },
      { valid: false, verdict: 'deny', reason: 'UNKNOWN_KEY', kind: 'health-code' },
      { valid: false, verdict: 'deny', reason: 'MALFORMED_BASE45', kind: null, detail: 'CODE_ERR_BASE45' },
      { valid: false, verdict: 'deny', reason: 'MALFORMED_PREFIX', kind: null, detail: 'CODE_ERR_PREFIX' },
      { valid: false, verdict: 'deny', reason: 'MALFORMED_REQUEST', kind: null, detail: '"qr" must be a non-empty string' },
      expect.objectContaining({ valid: false, verdict: 'deny', reason: 'MALFORMED_REQUEST', kind: null }),
      // Without --policies every colour is accepted: the CLI says whether a code is valid.
      { valid: true, verdict: 'allow', reason: 'OK', kind: 'health-code' },
    ]);
  });

  it('applies revocation lists and venue policies when given', async () => {
    const revoked = health.issueHealthCode({ subject: 'p-000004', colour: 'green', codeId: Buffer.from('0a0b0c0d0e0f1011', 'hex') });
    const yellow = health.issueHealthCode({ subject: 'p-000005', colour: 'yellow' });
    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [identifierHash('0a0b0c0d0e0f1011')] }));
    await writeFile(join(dir, 'policies.json'), JSON.stringify({ venues: { 'cafe-1': { colours: ['green', 'yellow'] } } }));
    const argv = ['--trust', trust, '--at', String(T), '--revocation', join(dir, 'revocation.json'), '--policies', join(dir, 'policies.json')];
    const out = await run(argv, [revoked, yellow, JSON.stringify({ qr: yellow, venue: 'cafe-1' })]);
    expect(out).toEqual([
      { valid: false, verdict: 'deny', reason: 'REVOKED', kind: 'health-code', detail: 'code' },
      { valid: true, verdict: 'deny', reason: 'POLICY_DENIED', kind: 'health-code', detail: 'colour' },
      { valid: true, verdict: 'allow', reason: 'OK', kind: 'health-code' },
    ]);
  });

  it('keeps the order of many lines', async () => {
    const codes = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `XX${i}` : health.issueHealthCode({ subject: `p-${String(i).padStart(6, '0')}`, colour: 'green' })));
    const out = await run(['--trust', trust, '--at', String(T)], codes);
    expect(out.map((o) => o.reason)).toEqual(codes.map((_, i) => (i % 3 === 0 ? 'MALFORMED_PREFIX' : 'OK')));
  });

  it('refuses a missing or bad trust file and a bad --at', async () => {
    await expect(run([], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(run(['--trust', join(dir, 'missing.json')], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await writeFile(join(dir, 'bad.json'), '[{"kid": "AAAA"}]');
    await expect(run(['--trust', join(dir, 'bad.json')], [])).rejects.toMatchObject({ code: 'VERIFIER_ERR_TRUST_LIST' });
    await expect(run(['--trust', trust, '--at', 'tomorrow'], [])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });
});
