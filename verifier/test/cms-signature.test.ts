import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCmsSignature } from '../src/trust-formats/cms-signature.ts';

/**
 * The CMS shapes Debian's openssl writes, beyond the two the trust-list tests use (ECDSA BER embedded,
 * RSA PKCS#1 DER detached): the inputs on which the reader was compared with pkijs, @peculiar/asn1-cms
 * and node-forge (verifier/README.md), so what the comparison claims of it stays true.
 */
describe('verifyCmsSignature on what openssl signs', () => {
  let dir: string;
  let content: Buffer;
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const pem = (name: string) => new X509Certificate(readFileSync(join(dir, `${name}.pem`)));
  const cms = (...args: string[]) => {
    openssl('cms', '-sign', '-binary', '-in', 'content.der', '-outform', 'DER', '-out', 'signature.der', ...args);
    return readFileSync(join(dir, 'signature.der')).toString('base64');
  };
  const by = (name: string) => ['-signer', `${name}.pem`, '-inkey', `${name}.key`];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cityops-cms-'));
    const selfSigned = (name: string, keyAlg: string[]) =>
      openssl('req', '-x509', '-newkey', ...keyAlg, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/C=XA/CN=${name}`, '-days', '30');
    selfSigned('ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    selfSigned('ec2', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    selfSigned('rsa', ['rsa:2048']);
    openssl('x509', '-in', 'ec.pem', '-outform', 'DER', '-out', 'content.der');
    content = readFileSync(join(dir, 'content.der'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts ECDSA, RSA PKCS#1 and RSA-PSS, DER and BER, detached and embedded, with or without signed attributes', () => {
    const shapes: [string, string[]][] = [
      ['ec', ['-md', 'sha384', '-nodetach']],
      ['ec', ['-md', 'sha256', '-noattr']],
      ['ec', ['-md', 'sha256', '-stream']],
      ['rsa', ['-md', 'sha512', '-stream', '-nodetach']],
      ['rsa', ['-md', 'sha256', '-keyopt', 'rsa_padding_mode:pss']],
      ['rsa', ['-md', 'sha256', '-nodetach', '-keyopt', 'rsa_padding_mode:pss', '-keyopt', 'rsa_pss_saltlen:32']],
    ];
    for (const [signer, options] of shapes) {
      expect(verifyCmsSignature(cms(...by(signer), ...options), content).raw.equals(pem(signer).raw), options.join(' ')).toBe(true);
    }
  });

  it('refuses another content, a flipped messageDigest, two certificates or signers, none, another eContentType, trailing bytes, a swapped signer', () => {
    const changed = Buffer.from(content);
    changed[changed.length - 3]! ^= 0x01;
    expect(() => verifyCmsSignature(cms(...by('rsa'), '-keyopt', 'rsa_padding_mode:pss'), changed)).toThrow(/messageDigest does not match/);
    expect(() => verifyCmsSignature(cms(...by('ec'), '-noattr', '-nodetach'), changed)).toThrow(/embedded content is not the certificate/);
    expect(() => verifyCmsSignature(cms(...by('ec'), '-noattr'), changed)).toThrow(/signature does not verify/);
    const signature = Buffer.from(cms(...by('ec')), 'base64');
    const flipped = Buffer.from(signature);
    flipped[flipped.indexOf(createHash('sha256').update(content).digest()) + 5]! ^= 0x01;
    expect(() => verifyCmsSignature(flipped.toString('base64'), content)).toThrow(/messageDigest does not match/);
    expect(() => verifyCmsSignature(cms(...by('ec'), '-certfile', 'rsa.pem'), content)).toThrow(/holds 2 certificates, expected 1/);
    expect(() => verifyCmsSignature(cms(...by('ec'), ...by('rsa')), content)).toThrow(/holds 2 certificates, expected 1/);
    expect(() => verifyCmsSignature(cms(...by('ec'), '-nocerts'), content)).toThrow(/holds 0 certificates, expected 1/);
    expect(() => verifyCmsSignature(cms(...by('ec'), '-econtent_type', '1.2.3.4'), content)).toThrow(/signed content is not id-data/);
    expect(() => verifyCmsSignature(Buffer.concat([signature, Buffer.from([0])]).toString('base64'), content)).toThrow(/DER: trailing bytes/);
    expect(verifyCmsSignature(signature.toString('base64'), content).raw.equals(pem('ec').raw)).toBe(true);
    // Another signer's certificate in place of the one that signed: in the streamed BER only the
    // certificates [0] around it has a length (A0 82 hi lo), its parents end at end-of-contents.
    const streamed = Buffer.from(cms(...by('ec2'), '-stream', '-nodetach'), 'base64');
    const at = streamed.indexOf(pem('ec2').raw);
    expect(streamed.subarray(at - 4, at - 2).toString('hex')).toBe('a082');
    const other = pem('ec').raw;
    const swapped = Buffer.concat([streamed.subarray(0, at - 2), Buffer.from([other.length >> 8, other.length & 0xff]), other, streamed.subarray(at + pem('ec2').raw.length)]);
    expect(verifyCmsSignature(streamed.toString('base64'), content).raw.equals(pem('ec2').raw)).toBe(true);
    expect(() => verifyCmsSignature(swapped.toString('base64'), content)).toThrow(/the signature does not verify/);
  });
});
