import { open } from 'node:fs/promises';
import { verifierErrors } from './errors.ts';

/**
 * Reads one reference-data source: a file path, or an http(s) URL polled with ETag. Returns the
 * text only when it changed, and in every case the time the data was last known current:
 * - a file is as fresh as its modification time (whatever syncs it touches it);
 * - a feed is as fresh as its last answer, 200 or 304 Not Modified.
 */
export interface SourceRead {
  /** undefined when unchanged since the previous read. */
  readonly text?: string;
  /** ms since the epoch. */
  readonly freshAt: number;
}

export interface SourceReader {
  readonly source: string;
  read(): Promise<SourceRead>;
  /** Forgets what was read, so the next read returns the text again (after the text was refused). */
  forget(): void;
}

export interface SourceReaderOptions {
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

export interface SourceReaderDeps {
  readonly now: () => number;
  readonly fetch?: typeof fetch;
}

function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

async function readBounded(body: ReadableStream<Uint8Array> | null, maxBytes: number, source: string): Promise<string> {
  if (body === null) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw verifierErrors.VERIFIER_ERR_SOURCE(`${source} is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function createFeedReader(url: string, options: SourceReaderOptions, deps: SourceReaderDeps): SourceReader {
  const fetchFn = deps.fetch ?? fetch;
  let etag: string | undefined;
  return {
    source: url,
    async read() {
      let response: Response;
      try {
        response = await fetchFn(url, {
          headers: etag === undefined ? {} : { 'if-none-match': etag },
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (err) {
        throw verifierErrors.VERIFIER_ERR_SOURCE(`${url}: ${(err as Error).message}`, err);
      }
      if (response.status === 304) {
        await response.body?.cancel();
        return { freshAt: deps.now() };
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw verifierErrors.VERIFIER_ERR_SOURCE(`${url} answered ${response.status}`);
      }
      const text = await readBounded(response.body, options.maxBytes, url);
      etag = response.headers.get('etag') ?? undefined;
      return { text, freshAt: deps.now() };
    },
    forget() {
      etag = undefined;
    },
  };
}

function createFileReader(path: string, options: SourceReaderOptions): SourceReader {
  let seen: string | undefined;
  return {
    source: path,
    async read() {
      try {
        const handle = await open(path, 'r');
        try {
          const info = await handle.stat();
          const identity = `${info.ino}:${info.size}:${info.mtimeMs}`;
          if (identity === seen) return { freshAt: info.mtimeMs };
          if (info.size > options.maxBytes) throw verifierErrors.VERIFIER_ERR_SOURCE(`${path} is larger than ${options.maxBytes} bytes`);
          const text = await handle.readFile('utf8');
          seen = identity;
          return { text, freshAt: info.mtimeMs };
        } finally {
          await handle.close();
        }
      } catch (err) {
        if ((err as { code?: string }).code === 'VERIFIER_ERR_SOURCE') throw err;
        throw verifierErrors.VERIFIER_ERR_SOURCE(`${path}: ${(err as Error).message}`, err);
      }
    },
    forget() {
      seen = undefined;
    },
  };
}

export function createSourceReader(source: string, options: SourceReaderOptions, deps: SourceReaderDeps): SourceReader {
  return isUrl(source) ? createFeedReader(source, options, deps) : createFileReader(source, options);
}

