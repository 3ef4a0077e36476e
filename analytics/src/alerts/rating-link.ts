import { createHmac, timingSafeEqual } from 'node:crypto';
import { analyticsErrors } from '../errors.ts';
import { RATING_STAGES, type AlertEvent, type RatingStage } from './alert-event.ts';
import type { AlertView } from './alert-projection.ts';
import type { RatingsConfig } from './rating-config.ts';

/** What a reporter's link rates, once its MAC and expiry are checked. */
export interface RatingLinkClaim {
  readonly alertId: string;
  readonly stage: RatingStage;
  readonly expiresAt: number;
}

/** Carried in a notification of a handled alert's resolved or closed event (webhooks, not MQTT). */
export interface RatingLinkOffer {
  readonly token: string;
  readonly expiresAt: number;
  readonly url?: string;
}

/** `v1.<alert id>.<stage>.<expires ms>.<MAC>`: no secret, no personal data, short enough for a URL. */
export const RATING_TOKEN_PATTERN = '^v1\\.[0-9a-f-]{36}\\.(resolved|closed)\\.[0-9]{1,15}\\.[A-Za-z0-9_-]{43}$';
const TOKEN = new RegExp(RATING_TOKEN_PATTERN);

/**
 * The reporters' one-time links: an HMAC-SHA256 over the alert id, the channel, the stage and the
 * expiry (a link made for one alert or stage cannot be bent to another). One-time because a rating
 * is stored per (alert, stage, channel): the second use finds the first's `rated` event.
 */
export function createRatingLinks(config: RatingsConfig, now: () => number) {
  const key = config.linkSecret === undefined ? undefined : Buffer.from(config.linkSecret, 'utf8');

  function mac(alertId: string, stage: string, expiresAt: number): Buffer {
    return createHmac('sha256', key!).update(`cityops-rating-link/v1\n${alertId}\nlink\n${stage}\n${expiresAt}`).digest();
  }

  function sign(alertId: string, stage: RatingStage, expiresAt: number): string {
    return `v1.${alertId}.${stage}.${expiresAt}.${mac(alertId, stage, expiresAt).toString('base64url')}`;
  }

  return {
    enabled: key !== undefined,
    sign,
    /** Throws ANALYTICS_ERR_RATING_LINK_INVALID (forged, malformed, links off) or _EXPIRED. */
    verify(token: string): RatingLinkClaim {
      const m = TOKEN.exec(token);
      if (key === undefined || m === null) throw analyticsErrors.ANALYTICS_ERR_RATING_LINK_INVALID();
      const [, alertId, stage, expires, given] = token.split('.') as [string, string, string, string, string];
      const expected = mac(alertId, stage, Number(expires));
      const got = Buffer.from(given, 'base64url');
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw analyticsErrors.ANALYTICS_ERR_RATING_LINK_INVALID();
      if (now() >= Number(expires)) throw analyticsErrors.ANALYTICS_ERR_RATING_LINK_EXPIRED();
      return { alertId, stage: stage as RatingStage, expiresAt: Number(expires) };
    },
    /** A link for the event's stage when it makes a handled alert rateable: resolved, or closed after a resolution. */
    offerFor(event: AlertEvent, view: AlertView): RatingLinkOffer | undefined {
      if (key === undefined || !(RATING_STAGES as readonly string[]).includes(event.type) || view.resolvedAt === undefined) return undefined;
      const expiresAt = event.at + config.linkTtlMs;
      const token = sign(event.alertId, event.type as RatingStage, expiresAt);
      return { token, expiresAt, ...(config.linkBaseUrl === undefined ? {} : { url: `${config.linkBaseUrl}?token=${token}` }) };
    },
  };
}

export type RatingLinks = ReturnType<typeof createRatingLinks>;
