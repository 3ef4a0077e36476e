import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDevelopmentIssuer, type DevelopmentIssuer } from '@cityops/protocol';

export interface CityIssuer {
  readonly issuer: DevelopmentIssuer;
  /** The verifier's trust file (this issuer only). */
  readonly trustPath: string;
  /** The key of the audit trail's subject pseudonyms, kept with the city's data. */
  readonly pseudonymKey: string;
}

/**
 * The simulated city's development issuer of health and site codes: made once, kept in
 * `<data>/issuer/` (private key mode 0600), reused at every start so old codes still verify.
 */
export async function loadOrCreateCityIssuer(dataDir: string): Promise<CityIssuer> {
  const dir = join(dataDir, 'issuer');
  const paths = {
    privateKey: join(dir, 'private-key.pem'),
    certificate: join(dir, 'certificate.pem'),
    trust: join(dir, 'trust.json'),
    pseudonymKey: join(dir, 'pseudonym-key'),
  };
  try {
    const [keyPem, certPem, pseudonymKey] = await Promise.all([
      readFile(paths.privateKey, 'utf8'),
      readFile(paths.certificate, 'utf8'),
      readFile(paths.pseudonymKey, 'utf8'),
    ]);
    const issuer = createDevelopmentIssuer({ privateKey: createPrivateKey(keyPem), certificate: new X509Certificate(certPem).raw });
    return { issuer, trustPath: paths.trust, pseudonymKey: pseudonymKey.trim() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const issuer = createDevelopmentIssuer();
  const pseudonymKey = randomBytes(32).toString('base64url');
  await mkdir(dir, { recursive: true });
  await writeFile(paths.privateKey, issuer.privateKeyPem(), { mode: 0o600 });
  await writeFile(paths.certificate, new X509Certificate(issuer.certificate).toString());
  await writeFile(paths.trust, `${JSON.stringify([issuer.trustEntry], null, 2)}\n`);
  await writeFile(paths.pseudonymKey, `${pseudonymKey}\n`, { mode: 0o600 });
  return { issuer, trustPath: paths.trust, pseudonymKey };
}
