import { createPublicKey, X509Certificate } from 'node:crypto';
import type { TrustKey, TrustTableEntry, TrustView } from './trust-list.ts';

/**
 * The trust list as a worker thread sees it: the shared table is read once per version (a shared
 * buffer arrives as a new object with every message, so the version is the key), and each
 * key is parsed the first time its kid is asked for, then kept until the version is dropped. Two
 * versions are kept, so batches from both sides of a swap do not throw each other's keys away.
 */
export interface WorkerTrustViews {
  /** The view of a version; the table is read only the first time the version is seen. */
  viewOf(version: number, table: SharedArrayBuffer): TrustView;
  /** Keys parsed so far by this thread (for tests and the measurement). */
  readonly parsedKeys: number;
}

const KEPT_VERSIONS = 2;

function toKey(row: TrustTableEntry): TrustKey {
  const certificate = row.certificate === undefined ? undefined : new X509Certificate(Buffer.from(row.certificate, 'base64'));
  const publicKey = certificate?.publicKey ?? createPublicKey({ key: Buffer.from(row.spki ?? '', 'base64'), format: 'der', type: 'spki' });
  return {
    kid: row.kid,
    kinds: row.kinds,
    publicKey,
    ...(certificate === undefined ? {} : { certificate }),
    ...(row.issuer === undefined ? {} : { issuer: row.issuer }),
    ...(row.region === undefined ? {} : { region: row.region }),
    ...(row.licence === undefined ? {} : { licence: row.licence }),
  };
}

export function createWorkerTrustViews(): WorkerTrustViews {
  const views = new Map<number, TrustView>();
  let parsedKeys = 0;

  function build(expected: number, table: SharedArrayBuffer): TrustView {
    const { version, entries } = JSON.parse(Buffer.from(table).toString('utf8')) as { version: number; entries: TrustTableEntry[] };
    // The table names its own version; a mismatch would be a bug in the caller, never a key mix-up.
    if (version !== expected) throw new Error(`trust table is version ${version}, task says ${expected}`);
    const rows = new Map<string, TrustTableEntry[]>();
    for (const row of entries) {
      const list = rows.get(row.kid) ?? [];
      list.push(row);
      rows.set(row.kid, list);
    }
    const parsed = new Map<string, readonly TrustKey[]>();
    return {
      version,
      keysFor(kid) {
        let keys = parsed.get(kid);
        if (keys === undefined) {
          const list = rows.get(kid);
          if (list === undefined) return undefined;
          keys = list.map(toKey);
          parsedKeys += keys.length;
          parsed.set(kid, keys);
        }
        return keys;
      },
    };
  }

  return {
    get parsedKeys() {
      return parsedKeys;
    },
    viewOf(version, table) {
      let view = views.get(version);
      if (view === undefined) {
        view = build(version, table);
        views.set(version, view);
        // Maps iterate in insertion order: the first key is the oldest version.
        while (views.size > KEPT_VERSIONS) views.delete(views.keys().next().value as number);
      }
      return view;
    },
  };
}
