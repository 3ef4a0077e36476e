import { CityopsError } from '../errors.ts';
import { createCborCodec } from './cbor-codec.ts';
import { decodeBase45 } from './base45.ts';
import { codeErrors } from './code-errors.ts';
import { CODE_FORMATS, type CodeFormat } from './code-formats.ts';
import type { DecodedCode } from './code-types.ts';
import { readCoseSign1 } from './cose-sign1.ts';
import { readClaimsMap } from './cwt-claims.ts';
import { createDccPayloadCheck, readDcc } from './dcc-payload.ts';
import { readHealthCode } from './health-code.ts';
import { createLicenceClaimsCheck } from './licence-schema.ts';
import { readLicenceCode } from './licence-code.ts';
import { readSiteCode } from './site-code.ts';
import { hasZlibHeader, inflateBounded } from './zlib-payload.ts';

/** Far above any real code (a DCC inflates to 300-600 bytes), far below what would hurt. */
export const DEFAULT_MAX_INFLATED_BYTES = 64 * 1024;
/** ISO/IEC 18004: the most alphanumeric characters a QR code holds (version 40, level L). */
export const DEFAULT_MAX_QR_CHARS = 4296;

export interface CodeDecoderOptions {
  /** Refuse a payload that inflates beyond this many bytes (CODE_ERR_INFLATE_LIMIT). */
  readonly maxInflatedBytes?: number;
  /** Refuse QR text longer than this before any work (CODE_ERR_TOO_LARGE). */
  readonly maxQrChars?: number;
}

export interface CodeDecoder {
  /**
   * Decodes QR text into a code whose signature is still to be checked. Throws a CityopsError whose
   * code names the layer that failed (CODE_ERR_PREFIX ... CODE_ERR_SCHEMA); never anything else.
   * Validity in time, trust, revocation and policy are the verifier's: not checked here.
   */
  decode(qr: string): DecodedCode;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

export function createCodeDecoder(options: CodeDecoderOptions = {}): CodeDecoder {
  const maxInflatedBytes = positiveInteger(options.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES, 'maxInflatedBytes');
  const maxQrChars = positiveInteger(options.maxQrChars ?? DEFAULT_MAX_QR_CHARS, 'maxQrChars');
  const cbor = createCborCodec();
  const checkDcc = createDccPayloadCheck();
  const checkLicence = createLicenceClaimsCheck();

  function recognise(qr: string): CodeFormat {
    for (const format of CODE_FORMATS) if (qr.startsWith(format.prefix)) return format;
    throw codeErrors.CODE_ERR_PREFIX(JSON.stringify(qr.slice(0, 8)));
  }

  function unpack(format: CodeFormat, bytes: Buffer): Buffer {
    if (hasZlibHeader(bytes)) return inflateBounded(bytes, maxInflatedBytes);
    if (format.zlib === 'required') throw codeErrors.CODE_ERR_ZLIB('HCERT §4.2.1: the CWT SHALL be zlib-compressed, and this is not');
    return bytes;
  }

  function decode(qr: string): DecodedCode {
    if (typeof qr !== 'string') throw codeErrors.CODE_ERR_PREFIX('not a string');
    if (qr.length > maxQrChars) throw codeErrors.CODE_ERR_TOO_LARGE(`${qr.length} characters > ${maxQrChars}`);
    const format = recognise(qr);
    const packed = decodeBase45(qr, format.prefix.length);
    const cose = readCoseSign1(cbor.decode(unpack(format, packed), 'COSE message'), cbor, format.cose);
    const claims = readClaimsMap(cose.payload, cbor);
    const common = { alg: cose.alg, kid: cose.kid, signature: cose.signature };
    switch (format.kind) {
      case 'eu-dcc':
        return { kind: 'eu-dcc', ...common, ...readDcc(claims, checkDcc) };
      case 'health-code':
        return { kind: 'health-code', ...common, ...readHealthCode(claims) };
      case 'site-code':
        return { kind: 'site-code', ...common, ...readSiteCode(claims) };
      case 'licence':
        return { kind: 'licence', ...common, ...readLicenceCode(claims, checkLicence) };
    }
  }

  return {
    decode(qr) {
      try {
        return decode(qr);
      } catch (err) {
        if (err instanceof CityopsError && err.code.startsWith('CODE_ERR_')) throw err;
        // A defect of ours or of a library on input nobody foresaw: still a refusal with a code.
        throw codeErrors.CODE_ERR_INTERNAL(String((err as Error)?.message ?? err).slice(0, 200), err);
      }
    },
  };
}
