import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodeDecoder, createSelfSignedCertificate } from '@cityops/protocol';
import { createReferenceStore, type ReloadOutcome } from '../src/reference-store.ts';
import { readTrustList } from '../src/trust-formats/read-trust-list.ts';
import { compileTrustChecks, type TrustCheckConfig, type TrustChecks } from '../src/trust-formats/trust-material.ts';
import { buildPolicySnapshot, ACCEPT_ALL_POLICY } from '../src/venue-policies.ts';
import { buildRevocationSnapshot } from '../src/revocation-list.ts';
import { buildStatusSnapshot } from '../src/status-feed.ts';
import type { TrustSnapshot } from '../src/trust-list.ts';
import { parseVerifierConfig } from '../src/verifier-config.ts';
import { verifyCode } from '../src/verify-code.ts';
import { dccVaccination } from './code-fixtures.ts';
import { createTrustPki, type GatewayEntry, type TrustPki } from './trust-pki.ts';

const logger = pino({ level: 'silent' });
const decoder = createCodeDecoder();
const listSigner = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signerPem = listSigner.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function checks(config: TrustCheckConfig): TrustChecks {
  const { checks: compiled, problems } = compileTrustChecks(config, '/trust');
  if (compiled === undefined) throw new Error(problems.join('; '));
  return compiled;
}

/** The verdict of a DCC of `country`'s DSC under `trust`, as the verifier's core gives it. */
function verdictOf(pki: TrustPki, country: string, trust: TrustSnapshot) {
  const qr = pki.countries[country]!.issuer.issueDcc({ payload: { ...dccVaccination(), v: [{ ...dccVaccination().v![0]!, co: country }] } });
  const context = {
    generation: 1,
    trust,
    revocation: buildRevocationSnapshot({}, 0, 1e-6),
    status: buildStatusSnapshot([], 0),
    policies: buildPolicySnapshot({}, 0, ACCEPT_ALL_POLICY),
    freshness: {},
  };
  return verifyCode(qr, context, decoder, { now: Date.now(), clockSkewMs: 30_000, staleAction: 'warn' }).verdict;
}

const refused = (what: RegExp): unknown => expect.objectContaining({ code: 'VERIFIER_ERR_TRUST_LIST', message: expect.stringMatching(what) as unknown });

describe('trust lists as real backends publish them', () => {
  let pki: TrustPki;
  let anchored: TrustChecks;
  beforeAll(() => {
    pki = createTrustPki();
    anchored = checks({ anchors: [pki.anchorPem] });
  });
  afterAll(() => pki.cleanup());

  it('EU DCC Gateway list: DSCs only, kinds eu-dcc, issuer and region the country; a DCC of each country verifies', () => {
    const snapshot = readTrustList(JSON.stringify(pki.gatewayList()), 3, anchored);
    expect(snapshot.size).toBe(2);
    const xa = pki.countries.XA!;
    const key = snapshot.keysFor(xa.issuer.trustEntry.kid)![0]!;
    expect(key).toMatchObject({ issuer: 'XA', region: 'XA', kinds: ['eu-dcc'] });
    expect(key.certificate!.raw.equals(xa.dsc)).toBe(true);
    expect(verdictOf(pki, 'XA', snapshot)).toMatchObject({ verdict: 'allow', reason: 'OK', kind: 'eu-dcc' });
    expect(verdictOf(pki, 'XB', snapshot)).toMatchObject({ verdict: 'allow', reason: 'OK' });
    // The same list read without anchors still checks thumbprints, kids and the CSCA chain.
    expect(readTrustList(Buffer.from(JSON.stringify(pki.gatewayList())), 4).size).toBe(2);
  });

  it('national list (signature line + JSON): raw r||s and DER signatures verify; a DCC verifies through it', () => {
    const signer = checks({ signer: { publicKey: signerPem } });
    const raw = readTrustList(pki.nationalList(pki.gatewayList(), listSigner.privateKey), 1, signer);
    expect(raw.size).toBe(2);
    expect(verdictOf(pki, 'XB', raw)).toMatchObject({ verdict: 'allow', reason: 'OK' });
    expect(readTrustList(`${pki.nationalList(pki.gatewayList(), listSigner.privateKey, 'der')}\n`, 2, signer).size).toBe(2);
    // The signer given by its certificate (PEM) instead of its key.
    const certificate = createSelfSignedCertificate({ ...listSigner, commonName: 'national backend', notBefore: Date.now() - 60_000, notAfter: Date.now() + 3_600_000 });
    const byCertificate = checks({ signer: { certificate: `-----BEGIN CERTIFICATE-----\n${certificate.toString('base64')}\n-----END CERTIFICATE-----\n` } });
    expect(readTrustList(pki.nationalList(pki.gatewayList(), listSigner.privateKey), 2, byCertificate).size).toBe(2);
    // With anchors too, the entries' own signatures are checked as well.
    const both = checks({ signer: { publicKey: signerPem }, anchors: [pki.anchorPem], format: 'national' });
    expect(readTrustList(pki.nationalList(pki.gatewayList(), listSigner.privateKey), 3, both).size).toBe(2);
  });

  it('refuses a tampered gateway list whole, naming what failed', () => {
    const list = pki.gatewayList();
    const dscIndex = list.findIndex((e) => e.certificateType === 'DSC');
    const tamper = (change: (entry: GatewayEntry) => GatewayEntry, with_: TrustChecks = anchored) => {
      const copy = pki.gatewayList();
      copy[dscIndex] = change(copy[dscIndex]!);
      return () => readTrustList(JSON.stringify(copy), 9, with_);
    };
    // One byte of rawData changed (in the signature value at its end, so it still parses).
    const flipped = (e: GatewayEntry) => {
      const der = Buffer.from(e.rawData!, 'base64');
      der[der.length - 3]! ^= 0x01;
      return { ...e, rawData: der.toString('base64') };
    };
    expect(tamper(flipped)).toThrow(refused(/entry \d+ \(kid .*\): thumbprint is not the SHA-256 of rawData/));
    expect(tamper((e) => ({ ...e, kid: 'AAAAAAAAAAA=' }))).toThrow(refused(/kid is not the first 8 bytes/));
    // Another certificate with its own thumbprint and kid, but the signature of the one it replaces.
    const stray = pki.entryOf('DSC', 'XA', pki.strayDsc, 'upload');
    expect(tamper((e) => ({ ...stray, signature: e.signature }))).toThrow(refused(/DSC signature: the embedded content is not the certificate/));
    // The same with the anchor's detached DER signature moved onto another CSCA entry.
    const swapped = pki.gatewayList();
    swapped[0] = { ...pki.entryOf('CSCA', 'XA', pki.countries.XB!.csca, 'anchor'), signature: swapped[0]!.signature };
    expect(() => readTrustList(JSON.stringify(swapped), 9, anchored)).toThrow(refused(/CSCA signature: messageDigest does not match/));
    // Properly signed by XA's UPLOAD, but not issued by XA's CSCA.
    expect(tamper(() => stray)).toThrow(refused(/not issued by a CSCA of XA/));
    expect(tamper(() => stray, checks({}))).toThrow(refused(/not issued by a CSCA of XA/));
    expect(tamper(() => pki.entryOf('DSC', 'XA', pki.countries.XA!.dsc, 'stranger'))).toThrow(refused(/not by an UPLOAD certificate of XA/));
    expect(tamper((e) => ({ ...e, signature: Buffer.from(e.signature!, 'base64').subarray(0, 40).toString('base64') }))).toThrow(refused(/DSC signature: DER/));
    const hex = (text: string) => Buffer.from(text, 'hex').toString('base64');
    expect(tamper((e) => ({ ...e, signature: hex('3080'.repeat(100)) }))).toThrow(refused(/DSC signature: DER: nested too deep/));
    expect(tamper((e) => ({ ...e, signature: hex('30800400') }))).toThrow(refused(/DSC signature: DER: indefinite length without end-of-contents/));
    expect(tamper((e) => ({ ...e, signature: hex('0480') }))).toThrow(refused(/DSC signature: DER: indefinite length on a primitive/));
    // The countries' signatures are BER with indefinite lengths, as the gateway's entries (MIAGCSqG...).
    expect(list[dscIndex]!.signature!.startsWith('MIAGCSqG')).toBe(true);
    expect(tamper((e) => ({ ...e, signature: null }))).toThrow(refused(/DSC signature: no signature/));
    // Listed under another country than its own.
    expect(tamper((e) => ({ ...e, country: 'XB' }), checks({}))).toThrow(refused(/certificate of XA listed under XB/));
    // An authority entry not signed by the trust anchor.
    const forgedCsca = pki.gatewayList();
    forgedCsca[0] = pki.entryOf('CSCA', 'XA', pki.countries.XA!.csca, 'stranger');
    expect(() => readTrustList(JSON.stringify(forgedCsca), 9, anchored)).toThrow(refused(/CSCA signature: signed by a certificate that is not a configured trust anchor/));
    forgedCsca[0] = { ...forgedCsca[0], rawData: null };
    expect(() => readTrustList(JSON.stringify(forgedCsca), 9)).toThrow(refused(/entry 0 \(kid .*\): CSCA without rawData/));
    expect(() => readTrustList(JSON.stringify([{ ...list[dscIndex]!, certificateType: 'ISSUER' }]), 9)).toThrow(refused(/certificateType/));
  });

  it('leaves revoked DSCs out (rawData null) and takes the configured CSCAs', () => {
    const list = pki.gatewayList().map((e) => (e.certificateType === 'DSC' && e.country === 'XB' ? { ...e, rawData: null, signature: null } : e));
    const snapshot = readTrustList(JSON.stringify(list), 1, anchored);
    expect(snapshot.size).toBe(1);
    expect(verdictOf(pki, 'XB', snapshot)).toMatchObject({ verdict: 'deny', reason: 'UNKNOWN_KEY' });
    const dscsOnly = pki.gatewayList().filter((e) => e.certificateType === 'DSC');
    const cscaXa = `-----BEGIN CERTIFICATE-----\n${pki.countries.XA!.csca.toString('base64')}\n-----END CERTIFICATE-----`;
    // Only XA's CSCA is known: XB's DSC chains to none of its country.
    expect(() => readTrustList(JSON.stringify(dscsOnly), 1, checks({ cscas: [cscaXa] }))).toThrow(refused(/not issued by a CSCA of XB/));
    expect(readTrustList(JSON.stringify(dscsOnly.slice(0, 1)), 1, checks({ cscas: [cscaXa] })).size).toBe(1);
  });

  it('refuses a tampered or unsigned national list, and an unsigned list where a signature is configured', () => {
    const signer = checks({ signer: { publicKey: signerPem } });
    const good = pki.nationalList(pki.gatewayList(), listSigner.privateKey);
    const [signatureLine, json] = [good.slice(0, good.indexOf('\n')), good.slice(good.indexOf('\n') + 1)];
    expect(() => readTrustList(`${signatureLine}\n${json.replace('"XB"', '"XC"')}`, 1, signer)).toThrow(refused(/national list: the signature does not verify/));
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(() => readTrustList(pki.nationalList(pki.gatewayList(), otherKey), 1, signer)).toThrow(refused(/signature does not verify/));
    expect(() => readTrustList(`AB!CD\n${json}`, 1, signer)).toThrow(refused(/first line is not a base64 signature/));
    expect(() => readTrustList(json, 1, signer)).toThrow(refused(/signature line is missing/));
    expect(() => readTrustList(good, 1)).toThrow(refused(/no signer is configured/));
    // With a signer configured, an unsigned list in the feed's place is no way around the signature.
    expect(() => readTrustList(JSON.stringify(pki.gatewayList()), 1, signer)).toThrow(refused(/not a signed national list/));
    expect(() => readTrustList(JSON.stringify([pki.countries.XA!.issuer.trustEntry]), 1, anchored)).toThrow(refused(/no signed entries/));
    expect(() => readTrustList(JSON.stringify(pki.gatewayList()), 1, checks({ format: 'cityops' }))).toThrow(refused(/dcc-gateway format, the source is configured for cityops/));
  });

  it('refuses garbage and oversized lists with the trust-list code', () => {
    const deep = (n: number) => Buffer.from(`[{"rawData":${'['.repeat(n)}${']'.repeat(n)}}]`);
    for (const garbage of [randomBytes(4096), Buffer.from('{not json'), Buffer.from(''), Buffer.from('QUJD\n{"certificates": 5}'), Buffer.from('[1, 2, 3]'), deep(10_000), Buffer.from('['.repeat(100_000))]) {
      expect(() => readTrustList(garbage, 1, checks({ signer: { publicKey: signerPem } }))).toThrow(expect.objectContaining({ code: 'VERIFIER_ERR_TRUST_LIST' }));
    }
    const many = JSON.stringify(Array.from({ length: 100_001 }, () => ({ rawData: null })));
    expect(() => readTrustList(many, 1)).toThrow(refused(/dcc-gateway list: 100001 entries, at most 100000/));
    expect(() => readTrustList(`[${'{"kid":"AA=="},'.repeat(100_001)}{}]`, 1)).toThrow(refused(/trust file: 100002 entries/));
    // An empty list is whichever format the source expects: no keys, no refusal.
    expect(readTrustList('[]', 1, anchored).size).toBe(0);
    expect(readTrustList(' [ ]\n', 1, checks({ format: 'dcc-gateway' })).size).toBe(0);
  });

  it('config: key material is parsed once at start, every problem named with its path', () => {
    expect(() => parseVerifierConfig({ trust: { source: 't.json', signer: { publicKey: 'not a key at all!' }, anchors: ['QUJDREVGR0hJSktMTU5PUA=='], format: 'xml' } })).toThrow(
      expect.objectContaining({ code: 'VERIFIER_ERR_CONFIG', message: expect.stringMatching(/\/trust\/format/) as unknown }),
    );
    expect(() => parseVerifierConfig({ trust: { source: 't.json', signer: { publicKey: 'bm90IGEga2V5IGF0IGFsbA==' }, anchors: ['QUJDREVGR0hJSktMTU5PUA=='] } })).toThrow(/\/trust\/signer: .*\/trust\/anchors\/0: /);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => parseVerifierConfig({ trust: { source: 't.json', signer: { publicKey: rsa } } })).toThrow(/national lists are signed with ECDSA/);
    expect(parseVerifierConfig({ trust: { source: 't.json', signer: { publicKey: signerPem }, anchors: [pki.anchorPem] } }).trust.format).toBe('auto');
  });

  it('the reference store keeps the list in force when a refresh brings a tampered list, and counts the failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cityops-trust-store-'));
    try {
      const path = join(dir, 'dsc-list.txt');
      await writeFile(path, pki.nationalList(pki.gatewayList(), listSigner.privateKey));
      const outcomes: string[] = [];
      const store = createReferenceStore(
        { trust: { source: path, refreshMs: 3_600_000, maxAgeMs: 3_600_000, signer: { publicKey: signerPem }, anchors: [pki.anchorPem] }, maxSourceBytes: 1 << 20, sourceTimeoutMs: 1000 },
        { now: Date.now, logger, onReload: (kind, outcome: ReloadOutcome) => outcomes.push(`${kind}:${outcome}`) },
      );
      const first = await store.start();
      expect(first.trust.size).toBe(2);
      const good = pki.nationalList(pki.gatewayList(), listSigner.privateKey);
      // The store remembers checks of the last read (trust-check-memo.ts): a changed entry is checked anew.
      const strangerSigned = pki.gatewayList().map((e) => (e.certificateType === 'DSC' && e.country === 'XA' ? pki.entryOf('DSC', 'XA', pki.countries.XA!.dsc, 'stranger') : e));
      const badKid = pki.gatewayList().map((e) => (e.certificateType === 'DSC' ? { ...e, kid: 'AAAAAAAAAAA=' } : e));
      for (const bad of [good.replace('"XA"', '"XQ"'), pki.nationalList(badKid, listSigner.privateKey), pki.nationalList(strangerSigned, listSigner.privateKey), 'garbage']) {
        await writeFile(path, bad);
        await expect(store.reload('trust')).rejects.toMatchObject({ code: 'VERIFIER_ERR_TRUST_LIST' });
        expect(store.current().trust).toBe(first.trust);
        expect(verdictOf(pki, 'XA', store.current().trust)).toMatchObject({ verdict: 'allow', reason: 'OK' });
      }
      expect(outcomes).toEqual(['trust:failed', 'trust:failed', 'trust:failed', 'trust:failed']);
      // The next good list is taken.
      await writeFile(path, pki.nationalList(pki.gatewayList().filter((e) => e.country !== 'XB'), listSigner.privateKey));
      await store.reload('trust');
      expect(store.current().trust.size).toBe(1);
      await store.stop();
      expect(() => createReferenceStore({ trust: { source: path, refreshMs: 1000, maxAgeMs: 1000, anchors: ['garbage-garbage-garbage'] }, maxSourceBytes: 1024, sourceTimeoutMs: 1000 }, { now: Date.now, logger })).toThrow(
        expect.objectContaining({ code: 'VERIFIER_ERR_CONFIG' }),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
