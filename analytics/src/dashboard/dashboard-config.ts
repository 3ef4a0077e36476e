import type { FromSchema } from 'json-schema-to-ts';

/** The operator dashboard's section of the analytics config (analytics-config.ts). */
export const dashboardConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    /** Serve the page at `/` and its stream at /v1/dashboard/stream. */
    enabled: { type: 'boolean', default: true },
    /** How often the feed computes a snapshot (overview, venue checks, pipeline) while a page is open. */
    intervalMs: { type: 'integer', minimum: 200, maximum: 600000, default: 2000 },
    /**
     * Prometheus /metrics of the services analytics does not run: in a scaled deployment ingest and
     * the verifier are other processes. Absent: that panel says "not configured".
     */
    sources: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ingest: { type: 'string', pattern: '^https?://' },
        verifier: { type: 'string', pattern: '^https?://' },
      },
    },
    /** A scrape that takes longer is abandoned; the panel shows the source as down. */
    scrapeTimeoutMs: { type: 'integer', minimum: 50, maximum: 60000, default: 1500 },
    /** A scanner with no verdict for this long is listed as offline. */
    scannerSilentMs: { type: 'integer', minimum: 10000, maximum: 86400000, default: 120000 },
    stream: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Pages connected at once; one more is refused (503). */
        maxClients: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
        /** Bytes queued for one page that its socket has not taken; past this the page is dropped. */
        maxBufferedBytes: { type: 'integer', minimum: 1024, maximum: 67108864, default: 1048576 },
        /** A comment line this often keeps proxies from closing an idle stream. */
        heartbeatMs: { type: 'integer', minimum: 1000, maximum: 600000, default: 15000 },
      },
    },
  },
} as const;

/** The section with every default filled in. */
export type DashboardConfig = FromSchema<typeof dashboardConfigSchema>;
