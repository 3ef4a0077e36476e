import type { FromSchema } from 'json-schema-to-ts';

/**
 * Phrases that say the problem is still there (a bad rating whose comment holds one reopens the
 * case even when the data says it is gone). Matched on the NFKC-lowercased comment: ASCII phrases
 * as whole words, others (Chinese) as substrings. Phrases, not single words: "still" alone is too
 * often something else ("still, thank you").
 */
export const DEFAULT_REMAINS_PHRASES = [
  'still there', 'still happening', 'still broken', 'still not', 'still smells', 'still noisy', 'still flooded',
  'not fixed', 'not resolved', 'not solved', 'unresolved', 'problem remains', 'persists', 'happening again', 'came back', 'back again',
  '仍然', '仍未', '还在', '依然', '依旧', '未解决', '没有解决', '没解决', '又出现', '再次出现',
] as const;

/** `alerts.ratings`: how handled alerts are rated by the side that raised them. */
export const ratingsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    /**
     * HMAC-SHA256 key of the reporters' one-time links (carried in webhook notifications of resolved
     * and closed alerts). Absent: no links are issued and the link route refuses every token.
     */
    linkSecret: { type: 'string', minLength: 32, maxLength: 256 },
    /** How long a link rates: a reporter answers within days, not forever. */
    linkTtlMs: { type: 'integer', minimum: 60000, maximum: 7776000000, default: 604800000 },
    /** Set: a link is also given as `<linkBaseUrl>?token=<token>`; the dashboard's page is `<analytics URL>/dashboard/rate.html`. */
    linkBaseUrl: { type: 'string', pattern: '^https?://[^\\s?#]+$', maxLength: 500 },
    /** A comment's length in characters (code points), beyond it the rating is refused. */
    maxCommentChars: { type: 'integer', minimum: 1, maximum: 4000, default: 1000 },
    remainsPhrases: {
      type: 'array',
      maxItems: 128,
      items: { type: 'string', minLength: 2, maxLength: 64 },
      default: DEFAULT_REMAINS_PHRASES,
    },
    /** Console ratings over MQTT being checked at once (each reads the console's registry row); beyond, dropped and counted. */
    consoleMaxInFlight: { type: 'integer', minimum: 1, maximum: 10000, default: 64 },
  },
} as const;

export type RatingsConfig = FromSchema<typeof ratingsConfigSchema>;
