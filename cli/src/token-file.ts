import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { accessTokenProblems, accessTokensSchema, compileSchemaCheck, createTokenStore, type AccessTokenEntry, type TokenStore } from '@cityops/protocol';
import type { Logger } from 'pino';
import { cliErrors } from './cli-errors.ts';
import type { Shutdown } from './shutdown.ts';

/** `--tokens FILE`: a JSON array of token entries; the services check each entry against their schema. */
export async function readTokenFile(path: string): Promise<AccessTokenEntry[]> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (!Array.isArray(parsed)) throw new Error('not a JSON array');
    return parsed as AccessTokenEntry[];
  } catch (err) {
    throw cliErrors.CLI_ERR_USAGE(`--tokens ${path}: ${(err as Error).message} (a JSON array of cityops token new entries)`, err);
  }
}

export interface TokenFileWatchOptions {
  /** How often the file's stat is polled (fs.watchFile: also sees a file replaced by rename). */
  readonly intervalMs?: number;
  readonly logger: Logger;
}

export interface TokenFileWatch {
  /** Settles when the reloads started so far are done (tests; shutdown). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Puts the tokens file's entries in force whenever it changes (issue 6: revoke or grant without a
 * restart). Polling rather than fs.watch: editors and `mv` replace the file, which fs.watch loses.
 * A file that cannot be read or is invalid keeps the tokens in force and logs one coded error.
 */
export function watchTokenFile(path: string, store: TokenStore, options: TokenFileWatchOptions): TokenFileWatch {
  const { logger } = options;
  // One reload at a time, in order: a slow read must not put an older file in force after a newer one.
  let chain = Promise.resolve();
  const reload = async () => {
    let problems: string[];
    try {
      problems = store.replace(JSON.parse(await readFile(path, 'utf8')));
    } catch (err) {
      problems = [(err as Error).message];
    }
    if (problems.length === 0) {
      logger.info({ tokensFile: path, entries: store.entries().length }, 'tokens file applied');
      return;
    }
    logger.error({ err: cliErrors.CLI_ERR_TOKENS_FILE(`${path}: ${problems.join('; ')}`) }, 'tokens file not applied');
  };
  const listener = (current: Stats, previous: Stats) => {
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
    chain = chain.then(reload);
  };
  watchFile(path, { interval: options.intervalMs ?? 1000, persistent: false }, listener);
  let stopped = false;
  return {
    settled: () => chain,
    async stop() {
      if (!stopped) unwatchFile(path, listener);
      stopped = true;
      await chain;
    },
  };
}

/**
 * `--tokens FILE` for a command: the entries for the services' config (checked there, as before) and
 * the live store every service of the process consults, kept in step with the file until shutdown.
 */
export async function tokenFileOption(
  path: string | undefined,
  shutdown: Shutdown,
  options: TokenFileWatchOptions,
): Promise<{ tokens: AccessTokenEntry[]; store?: TokenStore }> {
  if (path === undefined) return { tokens: [] };
  const tokens = await readTokenFile(path);
  const problems = compileSchemaCheck(accessTokensSchema)(tokens);
  if (problems.length === 0) problems.push(...accessTokenProblems(tokens));
  if (problems.length > 0) throw cliErrors.CLI_ERR_USAGE(`--tokens ${path}: ${problems.join('; ')}`);
  const store = createTokenStore(tokens);
  // Without entries the services run open (development); a later edit cannot change that, so no watch.
  if (store.configured) {
    const watch = watchTokenFile(path, store, options);
    shutdown.add(() => watch.stop());
  }
  return { tokens, store };
}
