/**
 * count() of a table in a chDB store no process has open any more (a stopped `cityops ingest`'s
 * `<data>/warehouse`), in a process of its own: a process holds one chDB store at a time.
 *
 * Run: node --import tsx bench/src/chdb-row-count.ts <store dir> <table>   (prints {"rows": n})
 */
import { fileURLToPath } from 'node:url';
import { drainPending, Session } from 'chdb';
import { startJsonLinesProcess } from './agent-process.ts';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Counts the rows of `table` in the store at `dir` (in a child process). */
export async function countStoredRows(dir: string, table: string, timeoutMs = 120_000): Promise<number> {
  const child = startJsonLinesProcess(fileURLToPath(import.meta.url), [dir, table]);
  try {
    return Number((await child.waitFor((line) => typeof line.rows === 'number', timeoutMs)).rows);
  } finally {
    await child.stop();
  }
}

async function main(dir: string, table: string): Promise<void> {
  // A table name cannot be a query parameter; it is checked instead.
  if (!IDENTIFIER.test(table)) throw new Error(`not a table name: ${JSON.stringify(table.slice(0, 80))}`);
  const session = new Session(dir);
  try {
    const result = await session.queryAsync(`SELECT count() AS n FROM ${table}`, { format: 'JSONEachRow' });
    process.stdout.write(`${JSON.stringify({ rows: Number(result.json<{ n: string | number }>().n) })}\n`);
  } finally {
    session.close();
    await drainPending();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv[2] ?? '', process.argv[3] ?? '');
