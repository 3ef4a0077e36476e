import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openReference, parseReferencePublisherKey, parseReferenceSigningKey, sealReference } from '../src/reference-envelope.ts';
import { parseVerifierConfig } from '../src/verifier-config.ts';

function keyPair(type: 'ed25519' | 'ec') {
  const pair = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicDer: pair.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}

const body = Buffer.from('[{"kid":"AAAA","publicKey":"BBBB"}]');
const header = { kind: 'trust', version: 1_700_000_000_000, freshAt: 1_700_000_000_000 } as const;

describe('reference envelope', () => {
  for (const type of ['ed25519', 'ec'] as const) {
    it(`opens what it sealed with a ${type} key, and only with its public key`, () => {
      const keys = keyPair(type);
      const sealed = sealReference(header, body, parseReferenceSigningKey(keys.privatePem));
      const opened = openReference(sealed, parseReferencePublisherKey(keys.publicPem), 1024);
      expect(opened.body.equals(body)).toBe(true);
      expect(opened.header).toMatchObject({ ...header, bytes: body.length });
      expect(openReference(sealed, parseReferencePublisherKey(keys.publicDer), 1024).header.version).toBe(header.version);
      const other = parseReferencePublisherKey(keyPair(type).publicPem);
      expect(() => openReference(sealed, other, 1024)).toThrow(/signature does not verify/);
    });
  }

  it('refuses every altered, truncated or oversized envelope with VERIFIER_ERR_REFERENCE_ENVELOPE', () => {
    const keys = keyPair('ed25519');
    const key = parseReferencePublisherKey(keys.publicPem);
    const sealed = sealReference(header, body, parseReferenceSigningKey(keys.privatePem));
    const headerEnd = 6 + sealed.readUInt16BE(4);
    const flip = (at: number) => {
      const copy = Buffer.from(sealed);
      copy[at] = copy[at]! ^ 0x01;
      return copy;
    };
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /no CRP1 magic/],
      ['garbage', Buffer.from('{"kind":"trust"}'), /no CRP1 magic/],
      ['a header length past the end', Buffer.from([...Buffer.from('CRP1'), 0xff, 0xff, 0, 0]), /truncated or over/],
      ['a byte of the header changed (version)', flip(20), /signature does not verify/],
      ['a byte of the body changed', flip(sealed.length - 1), /does not match its digest/],
      ['the body cut short', sealed.subarray(0, sealed.length - 3), /body of/],
      ['the signature cut short', sealed.subarray(0, headerEnd + 10), /signature missing, truncated/],
      ['a signature length of zero', Buffer.concat([sealed.subarray(0, headerEnd), Buffer.from([0, 0])]), /signature missing/],
    ];
    for (const [name, bytes, message] of cases) {
      let caught: unknown;
      try {
        openReference(bytes, key, 1024);
      } catch (err) {
        caught = err;
      }
      expect(caught, name).toMatchObject({ code: 'VERIFIER_ERR_REFERENCE_ENVELOPE' });
      expect((caught as Error).message, name).toMatch(message);
    }
    expect(() => openReference(sealed, key, body.length - 1)).toThrow(/at most/);
  });

  it('a header signed by the key but outside the schema is refused (kind, version, digest shape)', () => {
    const keys = keyPair('ed25519');
    const signing = parseReferenceSigningKey(keys.privatePem);
    const bad = sealReference({ kind: 'policies' as 'trust', version: 0, freshAt: -1 }, body, signing);
    expect(() => openReference(bad, parseReferencePublisherKey(keys.publicPem), 1024)).toThrow(/header: .*kind.*version|header: .*version.*kind/s);
  });

  it('config: referencePush needs mqtt and a usable private key; every problem is reported together', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => parseVerifierConfig({ trust: { source: 'trust.json' }, referencePush: { signingKey: rsa } })).toThrow(
      /referencePush needs \/mqtt.*signingKey: .*Ed25519 or EC key, not rsa/s,
    );
    expect(() => parseVerifierConfig({ trust: { source: 'trust.json' }, mqtt: { url: 'mqtt://x' }, referencePush: { signingKey: 'not a key at all, really' } })).toThrow(/signingKey/);
    const ok = parseVerifierConfig({ trust: { source: 'trust.json' }, mqtt: { url: 'mqtt://x' }, referencePush: { signingKey: keyPair('ec').privatePem } });
    expect(ok.referencePush?.maxPayloadBytes).toBe(2_097_152);
  });
});
