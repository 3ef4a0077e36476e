import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Tag } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { createCodeDecoder, DCC_SCHEMA_VERSIONS, dccSchemaVersionFor, type DecodedDcc } from '@cityops/protocol';
import { craft, dccClaims } from './craft-code.ts';
import { dccRecovery, dccTest, dccVaccination } from './dcc-samples.ts';
import { fixtureKey } from './fixture-keys.ts';

const key = fixtureKey('ES256').privateKey;
const decoder = createCodeDecoder();
const schemaDir = new URL('../../src/codes/dcc-schemas/', import.meta.url);
const testEntry = (dccTest as { t: Record<string, unknown>[] }).t[0]!;
const { tc: _tc, ...testWithoutCentre } = testEntry;

function decodeDcc(payload: unknown, change?: (m: Map<unknown, unknown>) => void): DecodedDcc {
  const decoded = decoder.decode(craft({ key, prefix: 'HC1:', claims: dccClaims(payload, change) }));
  if (decoded.kind !== 'eu-dcc') throw new Error('not a DCC');
  return decoded;
}

describe('the published DCC schema releases shipped', () => {
  it('are every release 1.0.0-1.3.2 but 1.2.1, each a valid JSON Schema 2020-12 naming its version', () => {
    expect(DCC_SCHEMA_VERSIONS).toEqual(['1.0.0', '1.0.1', '1.1.0', '1.2.0', '1.3.0', '1.3.1', '1.3.2']);
    const meta = new Ajv2020({ strict: false });
    for (const version of DCC_SCHEMA_VERSIONS) {
      const schema = JSON.parse(readFileSync(new URL(`${version}.json`, schemaDir), 'utf8')) as Record<string, unknown>;
      expect(meta.validateSchema(schema), version).toBe(true);
      expect(schema).toMatchObject({ $id: 'https://id.uvci.eu/DCC.combined-schema.json', $comment: `Schema version ${version}` });
    }
  });

  it('pick the release a ver declares: same, newest patch at or below, newest for newer, oldest for older', () => {
    const picks = Object.fromEntries(['1.0.0', '1.0.1', '1.0.7', '1.1.0', '1.2.1', '1.3.0', '1.3.2', '1.3.9', '1.4.0', '2.0.0', '0.9.0', 'x', 42].map((v) => [String(v), dccSchemaVersionFor(v)]));
    expect(picks).toEqual({
      '1.0.0': '1.0.0', '1.0.1': '1.0.1', '1.0.7': '1.0.1', '1.1.0': '1.1.0', '1.2.1': '1.2.0', '1.3.0': '1.3.0', '1.3.2': '1.3.2',
      '1.3.9': '1.3.2', '1.4.0': '1.3.2', '2.0.0': '1.3.2', '0.9.0': '1.0.0', x: '1.0.0', '42': '1.0.0',
    });
  });
});

describe('DCC variants real issuers produced, decoded as their release allows', () => {
  it('a 1.0.0 certificate carrying v, t and r together (and a test result time, dr, 1.0.x only)', () => {
    const decoded = decodeDcc({ ...dccVaccination, ver: '1.0.0', t: [{ ...testEntry, dr: '2021-05-30T12:00:00Z' }], r: dccRecovery.r, nam: { ...dccVaccination.nam } });
    expect(decoded).toMatchObject({ schemaVersion: '1.0.0', advisories: [], keyUsage: 'v', keyUsages: ['v', 't', 'r'] });
  });

  it('a 1.2.1 test certificate (validated with 1.2.0), a 1.3.1 one without tc, a 1.3.0 recovery', () => {
    expect(decodeDcc({ ...dccTest, ver: '1.2.1' })).toMatchObject({ schemaVersion: '1.2.0', advisories: [], keyUsages: ['t'] });
    expect(decodeDcc({ ...dccTest, ver: '1.3.1', t: [testWithoutCentre] })).toMatchObject({ schemaVersion: '1.3.1', advisories: [] });
    expect(decodeDcc({ ...dccRecovery, ver: '1.3.0', nam: { fnt: 'WANG', gnt: 'FANG' } })).toMatchObject({ schemaVersion: '1.3.0', advisories: [], keyUsages: ['r'] });
  });

  it('what only a later release allows, with an advisory naming both releases', () => {
    const noCentre = decodeDcc({ ...dccTest, ver: '1.3.0', t: [testWithoutCentre] });
    expect(noCentre.schemaVersion).toBe('1.3.2');
    expect(noCentre.advisories[0]).toMatch(/^does not meet its declared schema 1\.3\.0 \(\/t\/0 must have required property 'tc'\); meets 1\.3\.2$/);
    const tenthDose = decodeDcc({ ...dccVaccination, ver: '1.0.0', v: [{ ...(dccVaccination as { v: object[] }).v[0], dn: 10, sd: 10 }] });
    expect(tenthDose).toMatchObject({ schemaVersion: '1.3.2' });
    expect(decodeDcc({ ...dccVaccination, ver: '1.0.0', dob: '1964' })).toMatchObject({ schemaVersion: '1.3.2' });
  });

  it('a ver newer than any release is read with the newest', () => {
    expect(decodeDcc({ ...dccRecovery, ver: '1.4.0' })).toMatchObject({ schemaVersion: '1.3.2', advisories: [] });
  });

  it('fractional iat and exp (RFC 8392 §2), kept to the millisecond', () => {
    const decoded = decodeDcc(dccVaccination, (m) => {
      m.set(6, 1621262460.78);
      m.set(4, 1652798460.5);
    });
    expect(decoded.issuedAt).toBeCloseTo(1621262460780, 3);
    expect(decoded.expiresAt).toBeCloseTo(1652798460500, 3);
  });

  it('a tagged (0) date-time in the payload, and a 64-bit integer head', () => {
    const tagged = decodeDcc({ ...dccTest, t: [{ ...testEntry, sc: new Tag('2021-05-30T10:12:22Z', 0) }] });
    expect((tagged.claims as { t: { sc: string }[] }).t[0]!.sc).toBe('2021-05-30T10:12:22.000Z');
    const big = decodeDcc({ ...dccVaccination, v: [{ ...(dccVaccination as { v: object[] }).v[0], dn: 2n }] });
    expect((big.claims as { v: { dn: number }[] }).v[0]!.dn).toBe(2);
    expect(() => decodeDcc({ ...dccVaccination, v: [{ ...(dccVaccination as { v: object[] }).v[0], dn: 2n ** 60n }] })).toThrow(/beyond 2\^53/);
  });
});
