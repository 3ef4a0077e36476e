import { createSerialLinesSource, type ScanSource, type SerialLinesSourceStats, type SerialScannerConfigInput } from '@cityops/edge-agent';
import { isCityopsError } from '@cityops/protocol';
import type { Logger } from 'pino';
import { cliErrors } from './cli-errors.ts';

/** `cityops scan --serial DEVICE` and the line's framing, as parseArgs takes them. */
export const serialOptions = {
  serial: { type: 'string' },
  baud: { type: 'string' },
  'data-bits': { type: 'string' },
  'stop-bits': { type: 'string' },
  parity: { type: 'string' },
  flow: { type: 'string' },
  terminator: { type: 'string' },
  prefix: { type: 'string' },
  suffix: { type: 'string' },
} as const;

export type SerialValues = { readonly [K in keyof typeof serialOptions]?: string | undefined };

export const serialUsage = `  --serial DEVICE: codes from a hardware scanner on a serial line (USB CDC-ACM, USB-serial, RS-232) instead of
  stdin, one a line, answered as stdin's; [--baud 9600] [--data-bits 8] [--stop-bits 1|2] [--parity none|even|odd]
  [--flow none|rtscts|xonxoff] [--terminator any|cr|lf|crlf] [--prefix S] [--suffix S] (framing the scanner adds,
  removed: e.g. '\\x02' and '\\x03', or ']Q1'). An unplugged scanner is reopened when it is back; runs until a signal.`;

const ESCAPES: Readonly<Record<string, string>> = { r: '\r', n: '\n', t: '\t', '\\': '\\' };

/** `\xHH`, `\r`, `\n`, `\t`, `\\`: framing bytes such as STX cannot be typed on a command line. */
function unescape(text: string, what: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (all, code: string) => {
    if (code.startsWith('x') && code.length === 3) return String.fromCharCode(parseInt(code.slice(1), 16));
    const plain = ESCAPES[code];
    if (plain === undefined) throw cliErrors.CLI_ERR_USAGE(`${what}: unknown escape ${all} (\\xHH, \\r, \\n, \\t, \\\\)`);
    return plain;
  });
}

const FLOW: Readonly<Record<string, { rtscts: boolean; xonxoff: boolean }>> = {
  none: { rtscts: false, xonxoff: false },
  rtscts: { rtscts: true, xonxoff: false },
  xonxoff: { rtscts: false, xonxoff: true },
};

/** The serial source the options ask for, or undefined without `--serial`. Every framing problem in one CLI_ERR_USAGE. */
export function serialSourceFrom(
  values: SerialValues,
  deps: { readonly logger: Logger; readonly onBadLine: (line: number, reason: string) => void },
): ScanSource<SerialLinesSourceStats> | undefined {
  if (values.serial === undefined) return undefined;
  const flow = FLOW[values.flow ?? 'none'];
  if (flow === undefined) throw cliErrors.CLI_ERR_USAGE(`--flow must be none, rtscts or xonxoff, not ${values.flow}`);
  const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const config = {
    path: values.serial,
    ...(values.baud === undefined ? {} : { baudRate: number(values.baud) }),
    ...(values['data-bits'] === undefined ? {} : { dataBits: number(values['data-bits']) }),
    ...(values['stop-bits'] === undefined ? {} : { stopBits: number(values['stop-bits']) }),
    ...(values.parity === undefined ? {} : { parity: values.parity }),
    ...flow,
    ...(values.terminator === undefined ? {} : { terminator: values.terminator }),
    ...(values.prefix === undefined ? {} : { prefix: unescape(values.prefix, '--prefix') }),
    ...(values.suffix === undefined ? {} : { suffix: unescape(values.suffix, '--suffix') }),
  } as SerialScannerConfigInput; // checked by the source's schema, which names each bad value
  try {
    return createSerialLinesSource(config, { logger: deps.logger.child({ component: 'serial' }), onBadLine: deps.onBadLine });
  } catch (err) {
    if (isCityopsError(err, 'SCANNER_ERR_CONFIG')) throw cliErrors.CLI_ERR_USAGE(`--serial: ${err.message}`, err);
    throw err;
  }
}
