import { describe, expect, it } from 'vitest';
import { parseClickhouseCode, toWarehouseError } from '../src/map-clickhouse-error.ts';

describe('ClickHouse error mapping', () => {
  it('reads the error number from current and 18.x messages', () => {
    expect(parseClickhouseCode('Code: 60. DB::Exception: Unknown table')).toBe(60);
    expect(parseClickhouseCode('Code: 193, e.displayText() = DB::Exception: Wrong password')).toBe(193);
    expect(parseClickhouseCode('socket hang up')).toBeUndefined();
  });

  it('maps auth codes, network failures and everything else to their codes, keeping the cause', () => {
    const auth = new Error('Code: 516. DB::Exception: default: Authentication failed');
    expect(toWarehouseError(auth, 'x')).toMatchObject({ code: 'WAREHOUSE_ERR_AUTH', clickhouseCode: 516, cause: auth });
    // @clickhouse/client's ClickHouseError for a current server: the number is in `code`, not the message.
    const parsed = Object.assign(new Error('default: Authentication failed: password is incorrect'), { code: '516', type: 'AUTHENTICATION_FAILED' });
    expect(toWarehouseError(parsed, 'x')).toMatchObject({ code: 'WAREHOUSE_ERR_AUTH', clickhouseCode: 516, cause: parsed });
    const unknownTable = Object.assign(new Error('Unknown table expression identifier'), { code: '60', type: 'UNKNOWN_TABLE' });
    expect(toWarehouseError(unknownTable, 'x')).toMatchObject({ code: 'WAREHOUSE_ERR_QUERY', clickhouseCode: 60 });
    expect(toWarehouseError(unknownTable, 'x').message).toContain('ClickHouse code 60 (UNKNOWN_TABLE)');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(toWarehouseError(refused, 'x')).toMatchObject({ code: 'WAREHOUSE_ERR_UNAVAILABLE', cause: refused });
    expect(toWarehouseError(new Error('Timeout error.'), 'x').code).toBe('WAREHOUSE_ERR_UNAVAILABLE');
    const other = new TypeError('Do not know how to serialize a BigInt');
    expect(toWarehouseError(other, 'x')).toMatchObject({ code: 'WAREHOUSE_ERR_QUERY', cause: other });
  });
});
