/** Every address limit leaves these alone by default: a local proxy or test fleet is one address for everyone. */
export const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1'] as const;

/** The failed-login lockout's settings, as every service with credentials on HTTP takes them (`limits`). */
const FAILED_LOGIN_PROPERTIES = {
  maxAddresses: { type: 'integer', minimum: 1, default: 100000 },
  failedLoginsPerWindow: { type: 'integer', minimum: 1, default: 10 },
  failedLoginWindowMs: { type: 'integer', minimum: 1, default: 300000 },
  lockoutMs: { type: 'integer', minimum: 1, default: 900000 },
  exemptAddresses: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 1000, default: LOOPBACK_ADDRESSES },
} as const;

/** `limits` of a service with HTTP routes only (analytics, the verifier): failed-login lockout per address. */
export const failedLoginLimitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: FAILED_LOGIN_PROPERTIES,
} as const;

/** `limits` of the broker's service (ingest): the lockout, and a connection rate per address. */
export const addressLimitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    ...FAILED_LOGIN_PROPERTIES,
    connectionsPerWindow: { type: 'integer', minimum: 1, default: 30 },
    connectionWindowMs: { type: 'integer', minimum: 1, default: 10000 },
  },
} as const;
