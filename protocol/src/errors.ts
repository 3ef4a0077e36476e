/**
 * One error class for the whole project: every error carries a stable code (`AREA_ERR_WHAT`), a
 * message a user can act on, an HTTP status for the APIs and, where there is one, its `cause`.
 * Each package declares its own codes with `defineErrors` so the registry stays in one shape.
 */
export class CityopsError extends Error {
  readonly code: string;
  readonly statusCode: number;

  constructor(code: string, message: string, options: { statusCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CityopsError';
    this.code = code;
    this.statusCode = options.statusCode ?? 500;
  }
}

export interface ErrorSpec {
  readonly message: string;
  readonly statusCode?: number;
}

export type ErrorFactory = (detail?: string, cause?: unknown) => CityopsError;

/**
 * Declares a family of error codes. `errors.X(detail, cause)` builds a CityopsError whose message is
 * the spec's message followed by the detail.
 */
export function defineErrors<const T extends Record<string, ErrorSpec>>(specs: T): { [K in keyof T]: ErrorFactory } {
  const out: Record<string, ErrorFactory> = {};
  for (const [code, spec] of Object.entries(specs)) {
    out[code] = (detail?: string, cause?: unknown) =>
      new CityopsError(code, detail === undefined ? spec.message : `${spec.message}: ${detail}`, {
        ...(spec.statusCode === undefined ? {} : { statusCode: spec.statusCode }),
        cause,
      });
  }
  return out as { [K in keyof T]: ErrorFactory };
}

export function isCityopsError(err: unknown, code?: string): err is CityopsError {
  return err instanceof CityopsError && (code === undefined || err.code === code);
}

/** Errors raised by the shared contracts: topics, hierarchy paths, telemetry decoding and validation. */
export const protocolErrors = defineErrors({
  PROTOCOL_ERR_TOPIC_INVALID: { message: 'Topic does not follow the cityops topic scheme', statusCode: 400 },
  PROTOCOL_ERR_DEVICE_ID_INVALID: { message: 'Device id must be 1-64 characters of A-Z a-z 0-9 . _ -', statusCode: 400 },
  PROTOCOL_ERR_PLACE_INVALID: {
    message: 'Place must be district/subdistrict/grid[/building], each 1-48 characters of a-z 0-9 -',
    statusCode: 400,
  },
  PROTOCOL_ERR_PAYLOAD_TOO_LARGE: { message: 'Payload exceeds the size limit', statusCode: 413 },
  PROTOCOL_ERR_PAYLOAD_EMPTY: { message: 'Payload is empty', statusCode: 400 },
  PROTOCOL_ERR_PAYLOAD_DECODE: { message: 'Payload is neither valid msgpack nor valid JSON', statusCode: 400 },
  PROTOCOL_ERR_SCHEMA: { message: 'Payload does not match the telemetry batch schema', statusCode: 400 },
});

/**
 * Refusals by the HTTP server limits (http-server-limits.ts, http-replies.ts), the same in every
 * service: a client that breaks them never reached a route, so no service code applies.
 */
export const httpErrors = defineErrors({
  HTTP_ERR_CONNECTION_REFUSED: { message: 'HTTP connection refused at accept: too many open connections (http.limits)', statusCode: 503 },
  HTTP_ERR_TIMEOUT: { message: 'The request was not received in time (http.limits headersTimeoutMs / requestTimeoutMs)', statusCode: 408 },
  HTTP_ERR_HEADERS_TOO_LARGE: { message: 'Request line and headers exceed http.limits.maxHeaderBytes', statusCode: 431 },
  HTTP_ERR_MALFORMED: { message: 'Malformed HTTP request', statusCode: 400 },
  HTTP_ERR_BODY_TOO_LARGE: { message: 'Request body is larger than this route accepts', statusCode: 413 },
});
