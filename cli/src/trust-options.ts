import { readFile } from 'node:fs/promises';
import { TRUST_LIST_FORMATS, type TrustListFormat } from '@cityops/verifier';
import { cliErrors } from './cli-errors.ts';

/**
 * The options that say how a trust list is checked, for every command that takes `--trust`
 * (`verify`, `scan`): they become the verifier's `trust` / the scanner's `reference.trust` fields.
 */
export const trustOptions = {
  'trust-format': { type: 'string' },
  'trust-signer': { type: 'string' },
  'trust-anchor': { type: 'string', multiple: true },
  'trust-csca': { type: 'string', multiple: true },
} as const;

export const trustOptionsUsage = `[--trust-format auto|cityops|dcc-gateway|national] [--trust-signer PEM] [--trust-anchor PEM]... [--trust-csca PEM]...`;

export interface TrustOptionValues {
  readonly 'trust-format'?: string | undefined;
  readonly 'trust-signer'?: string | undefined;
  readonly 'trust-anchor'?: string[] | undefined;
  readonly 'trust-csca'?: string[] | undefined;
}

/** A PEM file as it is, a DER file as base64: what the trust configuration takes. */
async function readKeyText(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw cliErrors.CLI_ERR_USAGE(`cannot read ${path}: ${(err as Error).message}`);
  }
  const text = bytes.toString('latin1').trim();
  return text.startsWith('-----BEGIN') ? text : bytes.toString('base64');
}

/** The trust fields of a verifier's or scanner's configuration (mutable arrays, as the config schemas type them). */
export interface TrustOptionConfig {
  format: TrustListFormat;
  signer?: { publicKey: string } | { certificate: string };
  anchors?: string[];
  cscas?: string[];
}

/** Reads the key files named; the keys themselves are checked where the configuration is (compileTrustChecks). */
export async function readTrustOptions(values: TrustOptionValues): Promise<TrustOptionConfig> {
  const format = values['trust-format'] ?? 'auto';
  if (!(TRUST_LIST_FORMATS as readonly string[]).includes(format)) throw cliErrors.CLI_ERR_USAGE(`--trust-format must be one of ${TRUST_LIST_FORMATS.join(', ')}`);
  const signer = values['trust-signer'] === undefined ? undefined : await readKeyText(values['trust-signer']);
  return {
    format: format as TrustListFormat,
    ...(signer === undefined ? {} : { signer: signer.includes('BEGIN CERTIFICATE') ? { certificate: signer } : { publicKey: signer } }),
    ...(values['trust-anchor'] === undefined ? {} : { anchors: await Promise.all(values['trust-anchor'].map(readKeyText)) }),
    ...(values['trust-csca'] === undefined ? {} : { cscas: await Promise.all(values['trust-csca'].map(readKeyText)) }),
  };
}
