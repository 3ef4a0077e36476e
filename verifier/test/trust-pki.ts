import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentIssuer, type DevelopmentIssuer } from '@cityops/protocol';

/**
 * A small EU DCC public-key infrastructure made with Debian's openssl (a real peer: our DER writer
 * only self-signs): a gateway trust anchor (RSA), per country a CSCA, an UPLOAD certificate and a
 * DSC issued by the CSCA whose key issues DCCs, and the CMS signatures the gateway keeps per entry.
 */
export interface CountryPki {
  readonly country: string;
  readonly csca: Buffer;
  readonly upload: Buffer;
  readonly uploadPem: string;
  readonly dsc: Buffer;
  readonly issuer: DevelopmentIssuer;
}

export interface GatewayEntry {
  kid: string;
  timestamp: string;
  country: string;
  certificateType: 'DSC' | 'UPLOAD' | 'CSCA' | 'AUTHENTICATION';
  thumbprint: string;
  signature: string | null;
  rawData: string | null;
}

export interface TrustPki {
  readonly anchorPem: string;
  readonly countries: Readonly<Record<string, CountryPki>>;
  /** A DSC of XA issued by a CA that is not XA's CSCA, with its CMS signature by XA's UPLOAD. */
  readonly strayDsc: Buffer;
  /** Every entry, signed as the gateway keeps them. */
  gatewayList(): GatewayEntry[];
  entryOf(type: GatewayEntry['certificateType'], country: string, der: Buffer, signedBy: 'anchor' | 'upload' | 'stranger'): GatewayEntry;
  /** A national backend's list: base64 signature (raw r||s, or DER), newline, the JSON. */
  nationalList(entries: readonly GatewayEntry[], signer: KeyObject, encoding?: 'ieee-p1363' | 'der'): string;
  cleanup(): void;
}

const DAY = '30';

export function createTrustPki(countries: readonly string[] = ['XA', 'XB']): TrustPki {
  const dir = mkdtempSync(join(tmpdir(), 'cityops-trust-pki-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const pemToDer = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const selfSigned = (name: string, subject: string, keyAlg: string[], ca: boolean) => {
    openssl('req', '-x509', '-newkey', ...keyAlg, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', subject, '-days', DAY,
      ...(ca ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'] : []));
    return readFileSync(join(dir, `${name}.pem`), 'utf8');
  };
  const ec = ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  writeFileSync(join(dir, 'dsc.ext'), 'keyUsage=critical,digitalSignature\n');
  const issueDsc = (name: string, country: string, caName: string) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    openssl('req', '-new', '-key', `${name}.key`, '-subj', `/C=${country}/CN=DSC ${name}`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', DAY, '-extfile', 'dsc.ext', '-outform', 'DER', '-out', `${name}.der`);
    return { privateKey, der: readFileSync(join(dir, `${name}.der`)) };
  };
  const anchorPem = selfSigned('anchor', '/C=EU/CN=DCCG trust anchor', ['rsa:2048'], true);
  selfSigned('stranger', '/C=XA/CN=not an anchor', ec, false);
  const made: Record<string, CountryPki> = {};
  for (const country of countries) {
    const csca = pemToDer(selfSigned(`csca-${country}`, `/C=${country}/CN=CSCA ${country}`, ec, true));
    const uploadPem = selfSigned(`upload-${country}`, `/C=${country}/CN=UPLOAD ${country}`, ec, false);
    const dsc = issueDsc(`dsc-${country}`, country, `csca-${country}`);
    const issuer = createDevelopmentIssuer({ issuer: country, kinds: ['eu-dcc'], privateKey: dsc.privateKey, certificate: dsc.der });
    made[country] = { country, csca, upload: pemToDer(uploadPem), uploadPem, dsc: dsc.der, issuer };
  }
  selfSigned('rogue-ca', '/C=XA/CN=rogue CA', ec, true);
  const strayDsc = issueDsc('stray', 'XA', 'rogue-ca').der;

  // The anchor's signatures in DER, detached; the countries' in streamed BER with indefinite lengths,
  // as BouncyCastle (dgc-lib, which the countries upload with) writes them.
  const cms = (der: Buffer, signer: string) => {
    writeFileSync(join(dir, 'content.der'), der);
    const ber = signer.startsWith('upload-') ? ['-stream'] : [];
    openssl('cms', '-sign', '-binary', ...ber, '-in', 'content.der', '-signer', `${signer}.pem`, '-inkey', `${signer}.key`, '-md', 'sha256', '-outform', 'DER', '-out', 'signature.der');
    return readFileSync(join(dir, 'signature.der')).toString('base64');
  };
  const entryOf: TrustPki['entryOf'] = (certificateType, country, der, signedBy) => {
    const digest = createHash('sha256').update(der).digest();
    return {
      kid: digest.subarray(0, 8).toString('base64'),
      timestamp: '2021-06-01T10:00:00+02:00',
      country,
      certificateType,
      thumbprint: digest.toString('hex'),
      signature: cms(der, signedBy === 'upload' ? `upload-${country}` : signedBy),
      rawData: der.toString('base64'),
    };
  };
  const list: GatewayEntry[] = [];
  for (const c of Object.values(made)) {
    list.push(entryOf('CSCA', c.country, c.csca, 'anchor'), entryOf('UPLOAD', c.country, c.upload, 'anchor'), entryOf('DSC', c.country, c.dsc, 'upload'));
  }
  return {
    anchorPem,
    countries: made,
    strayDsc,
    gatewayList: () => list.map((e) => ({ ...e })),
    entryOf,
    nationalList(entries, signer, encoding = 'ieee-p1363') {
      const json = JSON.stringify({ certificates: entries });
      return `${sign('sha256', Buffer.from(json), { key: signer, dsaEncoding: encoding }).toString('base64')}\n${json}`;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
