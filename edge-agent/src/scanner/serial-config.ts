import { parseConfig } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { LINE_TERMINATORS } from '../bounded-lines.ts';
import { scannerErrors } from './scanner-errors.ts';

/**
 * The rates a POSIX/Linux line discipline has a Bxxx constant for. Others need the driver's custom
 * divisor (TIOCSSERIAL), which most USB adapters and every pseudo-terminal refuse: better refused here,
 * once, than by the device at every reopen.
 */
export const SERIAL_BAUD_RATES = [
  50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 500_000, 576_000, 921_600,
  1_000_000, 1_152_000, 1_500_000, 2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000,
] as const;

/** A serial QR scanner (USB CDC-ACM, USB-serial or RS-232) that prints each code as a line. */
export const serialScannerConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    /** The device, e.g. /dev/ttyUSB0, /dev/ttyACM0, or a stable /dev/serial/by-id/... link (it survives re-plugging into another port). */
    path: { type: 'string', minLength: 1, maxLength: 4096 },
    baudRate: { enum: SERIAL_BAUD_RATES, default: 9600 },
    dataBits: { enum: [5, 6, 7, 8], default: 8 },
    // The POSIX binding knows 1 and 2 stop bits only (1.5 exists on Windows alone).
    stopBits: { enum: [1, 2], default: 1 },
    parity: { enum: ['none', 'even', 'odd'], default: 'none' },
    /** Hardware flow control (RTS/CTS): the scanner holds codes while the agent is behind. */
    rtscts: { type: 'boolean', default: false },
    /** Software flow control (XON/XOFF), both directions. */
    xonxoff: { type: 'boolean', default: false },
    /** Exclusive open (TIOCEXCL): a second reader on the same scanner would steal half of the codes. */
    lock: { type: 'boolean', default: true },
    terminator: { enum: LINE_TERMINATORS, default: 'any' },
    /** Framing the scanner adds around each code (e.g. "\u0002" and "\u0003", or the AIM identifier "]Q1"): removed where present. */
    prefix: { type: 'string', maxLength: 16, default: '' },
    suffix: { type: 'string', maxLength: 16, default: '' },
    /**
     * `raw`: a line is a code's text, whatever it holds. `raw-or-json` also takes `{"qr","venue"}`, for a
     * trusted device in front that names the venue: from a scanner the JSON would be a code's content,
     * chosen by whoever made the code (its venue picking a laxer policy), so it is not the default.
     */
    lineFormat: { enum: ['raw', 'raw-or-json'], default: 'raw' },
    /** Longest line held (a QR code holds at most 4296 characters); past it the line is dropped up to its terminator and counted. */
    maxLineBytes: { type: 'integer', minimum: 64, maximum: 1_048_576, default: 16_384 },
    /** Bytes read ahead of the agent (the port stream's buffer); past it reads wait, then the OS buffer fills, then flow control holds the scanner. */
    readBufferBytes: { type: 'integer', minimum: 1024, maximum: 1_048_576, default: 16_384 },
    /** Reopening after an unplug or a failed open: jittered exponential backoff between these. */
    reconnect: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        minMs: { type: 'integer', minimum: 1, maximum: 600_000, default: 250 },
        maxMs: { type: 'integer', minimum: 1, maximum: 600_000, default: 5000 },
      },
    },
  },
} as const;

export type SerialScannerConfigInput = FromSchema<typeof serialScannerConfigSchema, { keepDefaultedPropertiesOptional: true }>;
export type SerialScannerConfig = FromSchema<typeof serialScannerConfigSchema>;

/** Validates once, every problem in one SCANNER_ERR_CONFIG; returns a frozen copy with defaults. */
export function parseSerialScannerConfig(input: SerialScannerConfigInput): SerialScannerConfig {
  const config = parseConfig<SerialScannerConfig>(serialScannerConfigSchema, input, scannerErrors.SCANNER_ERR_CONFIG);
  const problems: string[] = [];
  const { minMs, maxMs } = config.reconnect;
  if (maxMs < minMs) problems.push(`/reconnect/maxMs (${maxMs}) is below minMs (${minMs})`);
  if (problems.length > 0) throw scannerErrors.SCANNER_ERR_CONFIG(problems.join('; '));
  return config;
}
