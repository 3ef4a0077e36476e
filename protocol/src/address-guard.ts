import { isIP } from 'node:net';

export interface AddressGuardConfig {
  /** Addresses tracked at once; the least recently seen is forgotten first (counted). */
  readonly maxAddresses: number;
  /**
   * Token bucket per address: at most this many connections at once, refilled over the window.
   * Absent (a service with HTTP routes only): connections are not limited, only failed logins.
   */
  readonly connectionsPerWindow?: number;
  readonly connectionWindowMs?: number;
  /** This many failed authentications within the window lock the address out. */
  readonly failedLoginsPerWindow: number;
  readonly failedLoginWindowMs: number;
  readonly lockoutMs: number;
  /** Never limited (loopback by default: a local proxy or test fleet is one address for everyone). */
  readonly exemptAddresses: readonly string[];
}

export interface AddressGuardDeps {
  readonly now?: () => number;
  /** Called when an address is forgotten to keep the map within `maxAddresses`. */
  readonly onEvict?: () => void;
}

export interface AddressGuard {
  /** Takes one connection token; false when the address has opened too many connections lately. */
  allowConnection(address: string | undefined): boolean;
  /** Milliseconds the address is still locked out for, or 0. */
  lockedOutFor(address: string | undefined): number;
  /** Counts a failed authentication; true when this failure starts a lockout. */
  recordFailure(address: string | undefined): boolean;
  size(): number;
}

interface Entry {
  tokens: number;
  refilledAt: number;
  failures: number;
  failuresSince: number;
  lockedUntil: number;
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is the same address as `10.0.0.1`. */
export function normalizeAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address.toLowerCase();
}

/**
 * Per-address connection rate (token bucket) and failed-login lockout, for ingest's broker
 * (`preConnect`/`authenticate`) and every service's HTTP routes (http-lockout.ts). Memory is bounded by `maxAddresses`
 * (a Map in least-recently-seen order); time comes from `now`, so tests need no sleeps.
 */
export function createAddressGuard(config: AddressGuardConfig, deps: AddressGuardDeps = {}): AddressGuard {
  const now = deps.now ?? Date.now;
  const exempt = new Set(config.exemptAddresses.map((a) => normalizeAddress(a)));
  const entries = new Map<string, Entry>();
  const bucket = config.connectionsPerWindow ?? Number.POSITIVE_INFINITY;
  const refillPerMs = config.connectionWindowMs === undefined ? 0 : bucket / config.connectionWindowMs;

  function key(address: string | undefined): string | undefined {
    const normalized = normalizeAddress(address);
    // No address (a closed socket) cannot be limited by address; aedes refuses it elsewhere.
    if (normalized === undefined || isIP(normalized) === 0 || exempt.has(normalized)) return undefined;
    return normalized;
  }

  /** The entry, moved to the most recently seen end; created when `create`. */
  function touch(address: string, create: boolean): Entry | undefined {
    let entry = entries.get(address);
    if (entry !== undefined) {
      entries.delete(address);
    } else if (create) {
      const t = now();
      entry = { tokens: bucket, refilledAt: t, failures: 0, failuresSince: t, lockedUntil: 0 };
      while (entries.size >= config.maxAddresses) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
        deps.onEvict?.();
      }
    }
    if (entry !== undefined) entries.set(address, entry);
    return entry;
  }

  return {
    allowConnection(address) {
      const k = key(address);
      if (k === undefined || bucket === Number.POSITIVE_INFINITY) return true;
      const entry = touch(k, true)!;
      const t = now();
      entry.tokens = Math.min(bucket, entry.tokens + (t - entry.refilledAt) * refillPerMs);
      entry.refilledAt = t;
      if (entry.tokens < 1) return false;
      entry.tokens -= 1;
      return true;
    },
    lockedOutFor(address) {
      const k = key(address);
      const entry = k === undefined ? undefined : entries.get(k);
      return entry === undefined ? 0 : Math.max(0, entry.lockedUntil - now());
    },
    recordFailure(address) {
      const k = key(address);
      if (k === undefined) return false;
      const entry = touch(k, true)!;
      const t = now();
      if (t - entry.failuresSince >= config.failedLoginWindowMs) {
        entry.failures = 0;
        entry.failuresSince = t;
      }
      entry.failures += 1;
      if (entry.failures < config.failedLoginsPerWindow || entry.lockedUntil > t) return false;
      entry.lockedUntil = t + config.lockoutMs;
      entry.failures = 0;
      entry.failuresSince = t;
      return true;
    },
    size: () => entries.size,
  };
}
