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

  it('refuses another content, a flipped messageDigest, two certificates or signers, none, another eContentType, trailing bytes', () => {
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
  });
});
