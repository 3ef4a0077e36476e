import { open } from 'node:fs/promises';
import { scannerErrors } from './scanner-errors.ts';

/**
 * Reads one reference source as bytes (the revocation filter is binary): a file path, or an
 * http(s) URL fetched with If-None-Match. The verifier's own source reader returns text and is
 * internal to it, hence this small one. Freshness follows the verifier's rule: a file is as fresh
 * as its modification time, a feed as its last answer (200 or 304).
 */
export interface SourceFetch {
  /** undefined when unchanged since the last fetch (304, or the same file identity). */
  readonly bytes?: Buffer;
  /** ms since the epoch. */
  readonly freshAt: number;
  /** The feed's ETag, to be sent again after a restart. */
  readonly etag?: string;
}

export interface SourceFetcher {
  readonly source: string;
  fetch(): Promise<SourceFetch>;
  /** The validator to send (restored from the persisted copy at start). */
  remember(etag: string | undefined): void;
}

export interface SourceFetcherOptions {
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

export interface SourceFetcherDeps {
  readonly now: () => number;
  readonly fetch?: typeof fetch;
}

const isUrl = (source: string) => /^https?:\/\//i.test(source);

async function readBounded(body: ReadableStream<Uint8Array> | null, maxBytes: number, source: string): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw scannerErrors.SCANNER_ERR_REFERENCE(`${source} is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function createFeedFetcher(url: string, options: SourceFetcherOptions, deps: SourceFetcherDeps): SourceFetcher {
  const fetchFn = deps.fetch ?? fetch;
  let etag: string | undefined;
  return {
    source: url,
    remember(value) {
      etag = value;
    },
    async fetch() {
      let response: Response;
      try {
        response = await fetchFn(url, {
          headers: etag === undefined ? {} : { 'if-none-match': etag },
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (err) {
        throw scannerErrors.SCANNER_ERR_REFERENCE(`${url}: ${(err as Error).message}`, err);
      }
      if (response.status === 304) {
        await response.body?.cancel();
        return { freshAt: deps.now(), ...(etag === undefined ? {} : { etag }) };
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw scannerErrors.SCANNER_ERR_REFERENCE(`${url} answered ${response.status}`);
      }
      const bytes = await readBounded(response.body, options.maxBytes, url);
      etag = response.headers.get('etag') ?? undefined;
      return { bytes, freshAt: deps.now(), ...(etag === undefined ? {} : { etag }) };
    },
  };
}

function createFileFetcher(path: string, options: SourceFetcherOptions): SourceFetcher {
  let seen: string | undefined;
  return {
    source: path,
    remember(value) {
      seen = value;
    },
    async fetch() {
      try {
        const handle = await open(path, 'r');
        try {
          const info = await handle.stat();
          const identity = `${info.ino}:${info.size}:${info.mtimeMs}`;
          if (identity === seen) return { freshAt: info.mtimeMs, etag: identity };
          if (info.size > options.maxBytes) throw scannerErrors.SCANNER_ERR_REFERENCE(`${path} is larger than ${options.maxBytes} bytes`);
          const bytes = await handle.readFile();
          seen = identity;
          return { bytes, freshAt: info.mtimeMs, etag: identity };
        } finally {
          await handle.close();
        }
      } catch (err) {
        if ((err as { code?: string }).code === 'SCANNER_ERR_REFERENCE') throw err;
        throw scannerErrors.SCANNER_ERR_REFERENCE(`${path}: ${(err as Error).message}`, err);
      }
    },
  };
}

export function createSourceFetcher(source: string, options: SourceFetcherOptions, deps: SourceFetcherDeps): SourceFetcher {
  return isUrl(source) ? createFeedFetcher(source, options, deps) : createFileFetcher(source, options);
}
