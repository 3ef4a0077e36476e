import { warehouseErrors } from './errors.ts';
import type { WarehouseConfigInput } from './warehouse-config.ts';

/**
 * Turns one `--store` string into a warehouse config (validated later by openWarehouse):
 *
 *   chdb:///var/lib/cityops    embedded chDB, absolute path
 *   chdb:data/warehouse        embedded chDB, path relative to the working directory
 *   http(s)://user:pass@host:port/db   a ClickHouse server; user, password and database optional
 *
 * User and password are percent-decoded, so `p%40ss` is the password `p@ss`.
 */
export function parseWarehouseUrl(text: string): WarehouseConfigInput {
  const fail = (why: string) =>
    warehouseErrors.WAREHOUSE_ERR_CONFIG(`store URL ${JSON.stringify(redact(text))} ${why}`);
  if (text.startsWith('chdb:')) {
    const rest = text.slice('chdb:'.length);
    let path: string;
    if (rest.startsWith('//')) {
      // RFC 8089 style: chdb://<authority>/<path>; only an empty authority (local) makes sense.
      const slash = rest.indexOf('/', 2);
      if (slash !== 2) throw fail('must be chdb:///absolute/path or chdb:relative/path (no host)');
      path = rest.slice(2);
    } else {
      path = rest;
    }
    path = safeDecode(path, fail);
    if (path === '' || path === '/') throw fail('has no data directory');
    return Object.freeze({ backend: 'chdb', path });
  }
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch (err) {
      throw warehouseErrors.WAREHOUSE_ERR_CONFIG(`store URL ${JSON.stringify(redact(text))} is not a valid URL`, err);
    }
    if (url.search !== '' || url.hash !== '') throw fail('must not have a query or fragment');
    const segments = url.pathname.split('/').filter((s) => s !== '');
    if (segments.length > 1) throw fail('may name one database at most (http://host:port/db)');
    const database = segments[0] === undefined ? undefined : safeDecode(segments[0], fail);
    const username = url.username === '' ? undefined : safeDecode(url.username, fail);
    const password = url.password === '' ? undefined : safeDecode(url.password, fail);
    return Object.freeze({
      backend: 'server',
      url: `${url.protocol}//${url.host}`,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(database === undefined ? {} : { database }),
    });
  }
  throw fail('must start with chdb:, http:// or https://');
}

function safeDecode(part: string, fail: (why: string) => Error): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw fail('has invalid percent-encoding');
  }
}

/** Never echo a password back into logs. */
function redact(text: string): string {
  return text.replace(/^(https?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
