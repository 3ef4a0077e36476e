import { isCityopsError } from '@cityops/protocol';
import { describe, expect, it } from 'vitest';
import { parseWarehouseUrl } from '../src/index.ts';
describe('parseWarehouseUrl', () => {
  it('reads chDB paths, absolute and relative', () => {
    expect(parseWarehouseUrl('chdb:///var/lib/cityops')).toEqual({ backend: 'chdb', path: '/var/lib/cityops' });
    expect(parseWarehouseUrl('chdb:data/warehouse')).toEqual({ backend: 'chdb', path: 'data/warehouse' });
    expect(parseWarehouseUrl('chdb:./my%20store')).toEqual({ backend: 'chdb', path: './my store' });
  });

  it('reads a server URL with credentials and database', () => {
    expect(parseWarehouseUrl('https://ingest:p%40ss%3Aword@ch.example:8443/city')).toEqual({
      backend: 'server',
      url: 'https://ch.example:8443',
      username: 'ingest',
      password: 'p@ss:word',
      database: 'city',
    });
    expect(parseWarehouseUrl('http://127.0.0.1:8123')).toEqual({ backend: 'server', url: 'http://127.0.0.1:8123' });
    expect(parseWarehouseUrl('http://u@h:1/')).toEqual({ backend: 'server', url: 'http://h:1', username: 'u' });
  });

  it('refuses what it cannot mean, without echoing the password', () => {
    for (const bad of ['chdb://host/x', 'chdb:', 'chdb:///', 'postgres://x', 'http://h/a/b', 'http://h/?x=1', '/plain/path', 'chdb:%zz']) {
      let err: unknown;
      try {
        parseWarehouseUrl(bad);
      } catch (e) {
        err = e;
      }
      expect(isCityopsError(err, 'WAREHOUSE_ERR_CONFIG'), bad).toBe(true);
    }
    let err: unknown;
    try {
      parseWarehouseUrl('http://u:secret@h/a/b');
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).not.toContain('secret');
  });
});
