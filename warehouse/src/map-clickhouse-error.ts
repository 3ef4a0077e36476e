import { isCityopsError } from '@cityops/protocol';
import { warehouseErrors, type WarehouseError } from './errors.ts';

/**
 * ClickHouse error numbers that mean "who you are" or "what you may do" was refused:
 * 192 UNKNOWN_USER, 193 WRONG_PASSWORD, 194 REQUIRED_PASSWORD, 195 IP_ADDRESS_NOT_ALLOWED,
 * 497 ACCESS_DENIED, 516 AUTHENTICATION_FAILED (21.x+ folds 192-194 into 516).
 */
const AUTH_CODES: ReadonlySet<number> = new Set([192, 193, 194, 195, 497, 516]);

/** Socket-level failures: the server is not there, or stopped answering. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
]);

/**
 * The ClickHouse error number in a server message. Current servers write `Code: 60. DB::Exception`,
 * 18.x writes `Code: 60, e.displayText() = DB::Exception` (which @clickhouse/client does not parse).
 */
export function parseClickhouseCode(message: string): number | undefined {
  const match = /Code: (\d+)[.,]/.exec(message);
  return match === null ? undefined : Number(match[1]);
}

function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/**
 * The number @clickhouse/client parsed from a current server's answer: its ClickHouseError has
 * `code: '60'` and `type: 'UNKNOWN_TABLE'`, and the message no longer starts with `Code: 60.`.
 */
function clientErrorCode(err: unknown): { code: number; type?: string } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, type } = err as { code?: unknown; type?: unknown };
  if (typeof code !== 'string' || !/^\d+$/.test(code)) return undefined;
  return { code: Number(code), ...(typeof type === 'string' ? { type } : {}) };
}

/** An error with a ClickHouse number: AUTH for credential refusals, QUERY for everything else. */
export function errorFromClickhouse(code: number, message: string, cause: unknown, type?: string): WarehouseError {
  const detail = `ClickHouse code ${code}${type === undefined ? '' : ` (${type})`}: ${firstLine(message)}`;
  const err = AUTH_CODES.has(code)
    ? warehouseErrors.WAREHOUSE_ERR_AUTH(detail, cause)
    : warehouseErrors.WAREHOUSE_ERR_QUERY(detail, cause);
  return Object.assign(err, { clickhouseCode: code });
}

export function isNetworkError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  // @clickhouse/client reports its request_timeout as a plain Error('Timeout error.').
  return typeof message === 'string' && /^Timeout error\.?$|socket hang up/i.test(message);
}

/** Maps whatever a backend threw to a coded warehouse error; coded errors pass through unchanged. */
export function toWarehouseError(err: unknown, context: string, clickhouseCode?: number): WarehouseError {
  if (isCityopsError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const fromClient = clientErrorCode(err);
  const code = clickhouseCode ?? fromClient?.code ?? parseClickhouseCode(message);
  if (code !== undefined) return errorFromClickhouse(code, message, err, fromClient?.type);
  if (isNetworkError(err)) return warehouseErrors.WAREHOUSE_ERR_UNAVAILABLE(`${context}: ${firstLine(message)}`, err);
  return warehouseErrors.WAREHOUSE_ERR_QUERY(`${context}: ${firstLine(message)}`, err);
}
