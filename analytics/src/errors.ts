import { defineErrors } from '@cityops/protocol';

/** Errors raised by analytics: configuration, indicator definitions, queries and the rollup job. */
export const analyticsErrors = defineErrors({
  ANALYTICS_ERR_CONFIG: { message: 'Invalid analytics configuration', statusCode: 500 },
  ANALYTICS_ERR_DEFINITIONS_INVALID: { message: 'Invalid indicator definitions', statusCode: 500 },
  ANALYTICS_ERR_QUERY_INVALID: { message: 'Invalid query parameters', statusCode: 400 },
  ANALYTICS_ERR_INDICATOR_UNKNOWN: { message: 'No indicator has this name', statusCode: 404 },
  ANALYTICS_ERR_ROLLUP_BUSY: {
    message: 'The rollup job kept committing while the indicator was read; retry the request',
    statusCode: 503,
  },
  ANALYTICS_ERR_ROLLUP_FAILED: { message: 'The rollup job failed; it retries at its next run', statusCode: 500 },
  ANALYTICS_ERR_DISPATCH_INVALID: { message: 'Invalid dispatch file (departments and routes)', statusCode: 500 },
  ANALYTICS_ERR_ALERT_UNKNOWN: { message: 'No alert has this id', statusCode: 404 },
  ANALYTICS_ERR_ALERT_TRANSITION: { message: 'The alert is not in a state that allows this', statusCode: 409 },
  ANALYTICS_ERR_ALERT_REQUEST_INVALID: { message: 'Invalid alert request', statusCode: 400 },
  ANALYTICS_ERR_UNAUTHENTICATED: { message: 'A valid token is required: Authorization: Bearer <token>', statusCode: 401 },
  ANALYTICS_ERR_LOCKED_OUT: { message: 'Too many failed logins from this address; try again later', statusCode: 429 },
  ANALYTICS_ERR_ROLE_FORBIDDEN: { message: "The token's role does not allow this route", statusCode: 403 },
  ANALYTICS_ERR_FORBIDDEN: { message: "The alert is not with one of the operator's departments", statusCode: 403 },
  ANALYTICS_ERR_ALERTS_STOPPED: { message: 'The alert lifecycle is not running', statusCode: 503 },
  ANALYTICS_ERR_RATING_INVALID: { message: 'Invalid rating', statusCode: 400 },
  ANALYTICS_ERR_RATING_NOT_RATEABLE: { message: 'The alert cannot be rated now: only a handled alert, once resolved and again once closed', statusCode: 409 },
  ANALYTICS_ERR_RATING_DUPLICATE: { message: 'This stage of the alert is already rated through this channel', statusCode: 409 },
  ANALYTICS_ERR_RATING_LINK_INVALID: { message: 'The rating link is not valid', statusCode: 403 },
  ANALYTICS_ERR_RATING_LINK_EXPIRED: { message: 'The rating link has expired', statusCode: 410 },
  ANALYTICS_ERR_RATING_LINK_USED: { message: 'The rating link has already been used', statusCode: 409 },
  ANALYTICS_ERR_NOTIFY_UNAVAILABLE: { message: 'Alert events cannot be published on MQTT now: the link is down', statusCode: 503 },
});

export type AnalyticsErrorCode = keyof typeof analyticsErrors;
