import { open } from 'node:fs/promises';
import { verifierErrors } from './errors.ts';

/**
 * Reads one reference-data source as bytes (the caller decodes text; the scanner's revocation
 * filter is binary): a file path, or an http(s) URL polled with If-None-Match. The one home of this
 * for the verifier and the scanner's offline cache. Returns the bytes only when they changed, and
 * in every case the time the data was last known current:
 * - a file is as fresh as its modification time (whatever syncs it touches it);
 * - a feed is as fresh as its last answer, 200 or 304 Not Modified.
 */
export interface SourceRead {
  /** undefined when unchanged since the previous read (304, or the same file identity). */
  readonly bytes?: Buffer;
  /** ms since the epoch. */
  readonly freshAt: number;
  /** What identifies this version (a feed's ETag, a file's inode:size:mtime), to persist and `remember` after a restart. */
  readonly validator?: string;
}

export interface SourceReader {
  readonly source: string;
  read(): Promise<SourceRead>;
  /** Forgets what was read, so the next read returns the bytes again (after they were refused). */
  forget(): void;
  /** The validator of the copy held (restored from a persisted copy at start). */
  remember(validator: string | undefined): void;
}

export interface SourceReaderOptions {
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

export interface SourceReaderDeps {
  readonly now: () => number;
  readonly fetch?: typeof fetch;
}

export function isUrlSource(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** Stops reading at maxBytes + 1: a body declaring nothing, or lying, never costs more memory than the bound. */
async function readBounded(body: ReadableStream<Uint8Array> | null, maxBytes: number, source: string): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw verifierErrors.VERIFIER_ERR_SOURCE(`${source} is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function createFeedReader(url: string, options: SourceReaderOptions, deps: SourceReaderDeps): SourceReader {
  const fetchFn = deps.fetch ?? fetch;
  let etag: string | undefined;
  const withEtag = () => (etag === undefined ? {} : { validator: etag });
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
        return { freshAt: deps.now(), ...withEtag() };
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw verifierErrors.VERIFIER_ERR_SOURCE(`${url} answered ${response.status}`);
      }
      const declared = Number(response.headers.get('content-length') ?? Number.NaN);
      if (declared > options.maxBytes) {
        await response.body?.cancel();
        throw verifierErrors.VERIFIER_ERR_SOURCE(`${url} is larger than ${options.maxBytes} bytes`);
      }
      const bytes = await readBounded(response.body, options.maxBytes, url);
      etag = response.headers.get('etag') ?? undefined;
      return { bytes, freshAt: deps.now(), ...withEtag() };
    },
    forget() {
      etag = undefined;
    },
    remember(validator) {
      etag = validator;
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
          if (identity === seen) return { freshAt: info.mtimeMs, validator: identity };
          if (info.size > options.maxBytes) throw verifierErrors.VERIFIER_ERR_SOURCE(`${path} is larger than ${options.maxBytes} bytes`);
          const bytes = await handle.readFile();
          // Written to since the stat: the bound holds for what was read, not what was declared.
          if (bytes.length > options.maxBytes) throw verifierErrors.VERIFIER_ERR_SOURCE(`${path} is larger than ${options.maxBytes} bytes`);
          seen = identity;
          return { bytes, freshAt: info.mtimeMs, validator: identity };
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
    remember(validator) {
      seen = validator;
    },
  };
}

export function createSourceReader(source: string, options: SourceReaderOptions, deps: SourceReaderDeps): SourceReader {
  return isUrlSource(source) ? createFeedReader(source, options, deps) : createFileReader(source, options);
}
