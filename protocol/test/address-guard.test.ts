import { describe, expect, it } from 'vitest';
import { createAddressGuard } from '../src/index.ts';

describe('address guard', () => {
  const base = { maxAddresses: 100, connectionsPerWindow: 3, connectionWindowMs: 3000, failedLoginsPerWindow: 3, failedLoginWindowMs: 10_000, lockoutMs: 60_000, exemptAddresses: ['127.0.0.1'] };

  it('lets an address open N connections per window, refilled over time, independently of others', () => {
    let t = 1_000_000;
    const guard = createAddressGuard(base, { now: () => t });
    expect([1, 2, 3, 4].map(() => guard.allowConnection('10.0.0.1'))).toEqual([true, true, true, false]);
    expect(guard.allowConnection('10.0.0.2')).toBe(true);
    t += 999;
    expect(guard.allowConnection('10.0.0.1')).toBe(false);
    t += 1;
    expect(guard.allowConnection('10.0.0.1')).toBe(true);
    // The same client on a dual-stack socket, and loopback (exempt) is never limited.
    expect(guard.allowConnection('::ffff:10.0.0.1')).toBe(false);
    expect(Array.from({ length: 50 }, () => guard.allowConnection('127.0.0.1')).every(Boolean)).toBe(true);
  });

  it('locks an address out after M failures within the window, for lockoutMs', () => {
    let t = 0;
    const guard = createAddressGuard(base, { now: () => t });
    expect(guard.recordFailure('10.0.0.9')).toBe(false);
    expect(guard.recordFailure('10.0.0.9')).toBe(false);
    t += 10_000; // the window passed: counting starts again
    expect(guard.recordFailure('10.0.0.9')).toBe(false);
    expect(guard.recordFailure('10.0.0.9')).toBe(false);
    expect(guard.lockedOutFor('10.0.0.9')).toBe(0);
    expect(guard.recordFailure('10.0.0.9')).toBe(true);
    expect(guard.lockedOutFor('10.0.0.9')).toBe(60_000);
    expect(guard.lockedOutFor('10.0.0.10')).toBe(0);
    t += 59_999;
    expect(guard.lockedOutFor('10.0.0.9')).toBe(1);
    t += 1;
    expect(guard.lockedOutFor('10.0.0.9')).toBe(0);
  });

  it('forgets the least recently seen address beyond maxAddresses, and counts it', () => {
    let evicted = 0;
    const guard = createAddressGuard({ ...base, maxAddresses: 2 }, { now: () => 0, onEvict: () => evicted++ });
    guard.allowConnection('10.0.0.1');
    guard.allowConnection('10.0.0.2');
    guard.allowConnection('10.0.0.1'); // 10.0.0.2 is now the least recently seen
    guard.allowConnection('10.0.0.3');
    expect(guard.size()).toBe(2);
    expect(evicted).toBe(1);
    expect(guard.allowConnection('10.0.0.1')).toBe(true);
    expect(guard.allowConnection('10.0.0.1')).toBe(false);
  });

  it('without a connection rate (a service with HTTP routes only) limits failed logins alone', () => {
    const { connectionsPerWindow: _n, connectionWindowMs: _w, ...lockoutOnly } = base;
    const guard = createAddressGuard(lockoutOnly, { now: () => 0 });
    expect(Array.from({ length: 100 }, () => guard.allowConnection('10.0.0.1')).every(Boolean)).toBe(true);
    expect(guard.size()).toBe(0);
    expect([1, 2, 3].map(() => guard.recordFailure('10.0.0.1'))).toEqual([false, false, true]);
    expect(guard.lockedOutFor('10.0.0.1')).toBe(60_000);
  });
});
