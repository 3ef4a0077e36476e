import { hash } from 'node:crypto';
import { assertDeviceId, DEVICE_ID_PATTERN, type DeviceKind, type Place } from '@cityops/protocol';
import { formatDateTime64Utc } from './datetime64-text.ts';
import { createConcurrencyGate } from './concurrency-gate.ts';
import { generateSecret, hashSecret, verifySecret } from './device-secrets.ts';
import { registryErrors } from './registry-errors.ts';
import { sensorSetsConfigSchema } from './sensor-sets.ts';
import type { Warehouse } from './types.ts';

export interface DeviceInfo {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly place: Place;
  /** A console's departments: the alert topics it may read. Empty for every other kind. */
  readonly departments: readonly string[];
  readonly revoked: boolean;
  /** The device's own sensor cap (issue 17); 0: `registry.sensors.defaultMaxPerDevice`. */
  readonly maxSensors: number;
}

interface DeviceEntry extends DeviceInfo {
  readonly secretHash: string;
}

interface DeviceRow {
  id: string;
  kind: DeviceKind;
  district: string;
  subdistrict: string;
  grid: string;
  building: string;
  secret_hash: string;
  revoked: number | boolean;
  departments: string[];
  max_sensors: number | string;
}

export interface DeviceRegistryConfig {
  /** How often every instance re-reads the shared registry table. */
  readonly refreshMs: number;
  /** scrypt checks of secrets not seen before running at once (default 1: libuv's pool has four threads). */
  readonly maxConcurrentSecretChecks?: number;
  /** Checks waiting for a turn (default 256); beyond, INGEST_ERR_REGISTRY_BUSY (MQTT CONNACK 3, HTTP 503). */
  readonly maxQueuedSecretChecks?: number;
}

/** `registry` in the config of a service that authenticates devices (ingest, the verifier). */
export const deviceRegistryConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    /** How often the shared table is re-read (an unknown id also triggers a read, at most once a second). */
    refreshMs: { type: 'integer', minimum: 100, default: 5000 },
    /**
     * Secret checks (scrypt, 16 MiB and ~50 ms of a core each) at once. Each holds one of libuv's
     * four pool threads, which the write-ahead log's writes need too: a flood of logins with wrong
     * secrets from many addresses must not stall every device's PUBACK.
     */
    maxConcurrentSecretChecks: { type: 'integer', minimum: 1, maximum: 16, default: 1 },
    /** Checks waiting; beyond, refused as busy (CONNACK 3, HTTP 503): the device retries, no memory grows. */
    maxQueuedSecretChecks: { type: 'integer', minimum: 0, maximum: 100_000, default: 256 },
    /** Each device's sensor set (sensor-sets.ts): caps on sensors and metric names, how learning is written. */
    sensors: sensorSetsConfigSchema,
  },
} as const;

export interface DeviceRegistryDeps {
  readonly warehouse: Warehouse;
  readonly now?: () => number;
}

export interface DeviceRegistry {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Provisions a device; the returned secret is shown once and stored only as a hash. A console needs
   * `departments` (its alert topics); no other kind may have any (INGEST_ERR_QUERY_INVALID otherwise).
   */
  add(device: { id: string; kind: DeviceKind; place: Place; departments?: readonly string[]; maxSensors?: number }): Promise<{ id: string; secret: string }>;
  /** Sets a device's own sensor cap (0: back to the default). */
  setMaxSensors(id: string, maxSensors: number): Promise<void>;
  revoke(id: string): Promise<void>;
  /** Gives an existing device a new secret (shown once), e.g. when the old one is lost or leaked. */
  rotate(id: string): Promise<{ id: string; secret: string }>;
  get(id: string): DeviceInfo | undefined;
  /** As `get`, but an unknown id first re-reads the table (at most once a second, shared with `authenticate`). */
  find(id: string): Promise<DeviceInfo | undefined>;
  /** Resolves the device, or throws INGEST_ERR_UNKNOWN_DEVICE / INGEST_ERR_BAD_CREDENTIALS. */
  authenticate(id: string, secret: string): Promise<DeviceInfo>;
  refresh(): Promise<void>;
  size(): number;
  /**
   * Calls `listener` when a known device's credentials stop being valid: revoked or rotated here,
   * or seen so by a refresh (another instance, `cityops device revoke --store`). Returns an unsubscribe.
   */
  onCredentialsChanged(listener: CredentialsListener): () => void;
}

export type CredentialsListener = (id: string, reason: 'revoked' | 'rotated') => void;

/** Why `before`'s credentials are no longer good in `after`, if they are not. */
function invalidation(before: DeviceEntry | undefined, after: DeviceEntry): 'revoked' | 'rotated' | undefined {
  if (before === undefined || before.revoked) return undefined;
  if (after.revoked) return 'revoked';
  return before.secretHash === after.secretHash ? undefined : 'rotated';
}

/** A console's departments (at most this many) name its alert topics; no other kind has any. */
export const MAX_CONSOLE_DEPARTMENTS = 64;

function checkDepartments(kind: DeviceKind, departments: readonly string[]): void {
  if (kind !== 'console') {
    if (departments.length > 0) throw registryErrors.INGEST_ERR_QUERY_INVALID(`a ${kind} has no departments; only a console does`);
    return;
  }
  if (departments.length === 0 || departments.length > MAX_CONSOLE_DEPARTMENTS) {
    throw registryErrors.INGEST_ERR_QUERY_INVALID(`a console needs 1 to ${MAX_CONSOLE_DEPARTMENTS} departments`);
  }
  const bad = departments.find((d) => !DEVICE_ID_PATTERN.test(d));
  if (bad !== undefined) throw registryErrors.INGEST_ERR_QUERY_INVALID(`department ${JSON.stringify(bad.slice(0, 80))} is not an id (${DEVICE_ID_PATTERN.source})`);
}

/** The largest cap one device may be given: its set is held in memory by every ingest instance. */
export const MAX_SENSORS_CEILING = 100_000;

function checkMaxSensors(maxSensors: number): void {
  if (!Number.isInteger(maxSensors) || maxSensors < 0 || maxSensors > MAX_SENSORS_CEILING) {
    throw registryErrors.INGEST_ERR_QUERY_INVALID(`maxSensors must be an integer from 0 (the default) to ${MAX_SENSORS_CEILING}`);
  }
}

/** At most one on-demand refresh per this many ms when an unknown device tries to connect. */
const MISS_REFRESH_MS = 1000;

/**
 * The device registry, shared by every ingest instance through the warehouse's `devices` table
 * (ReplacingMergeTree: the newest row per id wins). Each instance keeps the table in memory,
 * refreshes it periodically, and once more on demand when an unknown device knocks.
 */
export function createDeviceRegistry(config: DeviceRegistryConfig, deps: DeviceRegistryDeps): DeviceRegistry {
  const now = deps.now ?? Date.now;
  let devices = new Map<string, DeviceEntry>();
  // id -> sha256(secret) of the last secret that verified against the current hash; saves an
  // scrypt per reconnect. Bounded by the number of devices; cleared when a hash changes.
  const verified = new Map<string, { hash: string; digest: string }>();
  let timer: NodeJS.Timeout | undefined;
  let lastMissRefresh = 0;
  let refreshing: Promise<void> | undefined;
  const listeners = new Set<CredentialsListener>();
  // Secret checks running now, by (id, hash, digest of the secret): at most one scrypt each at a time.
  const checking = new Map<string, Promise<boolean>>();
  const secretChecks = createConcurrencyGate(
    { maxRunning: config.maxConcurrentSecretChecks ?? 1, maxQueued: config.maxQueuedSecretChecks ?? 256 },
    () => registryErrors.INGEST_ERR_REGISTRY_BUSY(`${config.maxQueuedSecretChecks ?? 256} secret checks already waiting`),
  );

  function announce(before: DeviceEntry | undefined, after: DeviceEntry): void {
    const reason = invalidation(before, after);
    if (reason === undefined) return;
    for (const listener of listeners) listener(after.id, reason);
  }

  async function load(): Promise<void> {
    const rows = await deps.warehouse.query<DeviceRow>(
      'SELECT id, kind, district, subdistrict, grid, building, secret_hash, revoked, departments, max_sensors FROM devices FINAL',
    );
    const next = new Map<string, DeviceEntry>();
    for (const row of rows) {
      next.set(row.id, {
        id: row.id,
        kind: row.kind,
        place: { district: row.district, subdistrict: row.subdistrict, grid: row.grid, building: row.building },
        departments: row.departments,
        revoked: row.revoked === true || row.revoked === 1,
        maxSensors: Number(row.max_sensors),
        secretHash: row.secret_hash,
      });
    }
    const before = devices;
    devices = next;
    for (const entry of next.values()) announce(before.get(entry.id), entry);
  }

  function refresh(): Promise<void> {
    refreshing ??= load().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  async function write(entry: DeviceEntry): Promise<void> {
    await deps.warehouse.insertRows('devices', [
      {
        id: entry.id,
        kind: entry.kind,
        district: entry.place.district,
        subdistrict: entry.place.subdistrict,
        grid: entry.place.grid,
        building: entry.place.building,
        secret_hash: entry.secretHash,
        revoked: entry.revoked ? 1 : 0,
        departments: entry.departments,
        max_sensors: entry.maxSensors,
        // Text, not a number: every ClickHouse version parses it the same way.
        updated_at: formatDateTime64Utc(now()),
      },
    ]);
    const before = devices.get(entry.id);
    devices.set(entry.id, entry);
    verified.delete(entry.id);
    announce(before, entry);
  }

  async function find(id: string): Promise<DeviceEntry | undefined> {
    const entry = devices.get(id);
    if (entry !== undefined || now() - lastMissRefresh < MISS_REFRESH_MS) return entry;
    lastMissRefresh = now();
    await refresh();
    return devices.get(id);
  }

  async function authenticateSlowly(id: string, secret: string): Promise<DeviceInfo> {
    const entry = await find(id);
    if (entry === undefined || entry.revoked) throw registryErrors.INGEST_ERR_UNKNOWN_DEVICE(id.slice(0, 64));
    const d = digest(secret);
    const known = verified.get(id);
    if (known !== undefined && known.hash === entry.secretHash && known.digest === d) return entry;
    // Requests of one device arriving together before its first check ends share one scrypt
    // (a scanner's first burst over HTTP would otherwise cost one each).
    const key = `${id}\n${entry.secretHash}\n${d}`;
    let check = checking.get(key);
    if (check === undefined) {
      check = secretChecks.run(() => verifySecret(secret, entry.secretHash)).finally(() => checking.delete(key));
      checking.set(key, check);
    }
    if (!(await check)) throw registryErrors.INGEST_ERR_BAD_CREDENTIALS(id);
    // Only if the hash is still the one checked: a rotation meanwhile must not be undone.
    if (devices.get(id)?.secretHash === entry.secretHash) verified.set(id, { hash: entry.secretHash, digest: d });
    return entry;
  }

  function digest(secret: string): string {
    // One-shot: 0.3 µs against 1.7 for createHash().update().digest(), on every scanner request (issue 20).
    return hash('sha256', secret, 'base64');
  }

  return {
    async start() {
      await load();
      timer = setInterval(() => {
        refresh().catch(() => {
          // The next tick tries again; authentication keeps using the last good copy.
        });
      }, config.refreshMs);
      timer.unref();
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      return refreshing?.catch(() => undefined) ?? Promise.resolve();
    },
    async add({ id, kind, place, departments = [], maxSensors = 0 }) {
      assertDeviceId(id);
      checkDepartments(kind, departments);
      checkMaxSensors(maxSensors);
      // The in-memory copy is at most refreshMs old; provisioning is an operator's act, not a race.
      if (devices.has(id)) throw registryErrors.INGEST_ERR_DEVICE_EXISTS(id);
      const secret = generateSecret();
      await write({ id, kind, place, departments: [...new Set(departments)], revoked: false, maxSensors, secretHash: await hashSecret(secret) });
      return { id, secret };
    },
    async revoke(id) {
      if (!devices.has(id)) await refresh();
      const entry = devices.get(id);
      if (entry === undefined) throw registryErrors.INGEST_ERR_UNKNOWN_DEVICE(id);
      await write({ ...entry, revoked: true });
    },
    async setMaxSensors(id, maxSensors) {
      checkMaxSensors(maxSensors);
      if (!devices.has(id)) await refresh();
      const entry = devices.get(id);
      if (entry === undefined) throw registryErrors.INGEST_ERR_UNKNOWN_DEVICE(id);
      await write({ ...entry, maxSensors });
    },
    async rotate(id) {
      if (!devices.has(id)) await refresh();
      const entry = devices.get(id);
      if (entry === undefined) throw registryErrors.INGEST_ERR_UNKNOWN_DEVICE(id);
      const secret = generateSecret();
      await write({ ...entry, revoked: false, secretHash: await hashSecret(secret) });
      return { id, secret };
    },
    get(id) {
      return devices.get(id);
    },
    find,
    authenticate(id, secret) {
      // The hot path (a known device, its secret verified before): no promise chain, one SHA-256.
      const current = devices.get(id);
      const known = verified.get(id);
      if (current !== undefined && !current.revoked && known !== undefined && known.hash === current.secretHash && known.digest === digest(secret)) {
        return Promise.resolve(current);
      }
      return authenticateSlowly(id, secret);
    },
    refresh,
    size: () => devices.size,
    onCredentialsChanged(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
