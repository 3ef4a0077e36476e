import { createHash } from 'node:crypto';

/**
 * What a verifier publishes, retained, on `cityops/v1/status/{verifierId}`; the offline one is
 * also its last will (MQTT 3.1.1 §3.1.2.5), so the broker says it for a verifier that vanished.
 */
export interface VerifierStatus {
  readonly online: boolean;
  readonly service: 'verifier';
  readonly group: string;
  /** False: it answers every scanner and is no member (the others do not leave it a share). */
  readonly partition: boolean;
  readonly ts: number;
  readonly reason?: string;
}

export interface VerifierGroupConfig {
  readonly verifierId: string;
  readonly group: string;
  readonly partition: boolean;
}

export interface VerifierGroup {
  status(online: boolean, ts: number, reason?: string): VerifierStatus;
  /**
   * A message from `cityops/v1/status/{device}` (every device publishes there: whatever is not a
   * verifier of this group is ignored). Returns true when the live set changed.
   */
  onStatus(device: string, payload: Buffer): boolean;
  /** Whether this verifier answers the scanner: it is the scanner's highest-weight live member. */
  owns(scanner: string): boolean;
  /** The live members, this one included, sorted. */
  members(): string[];
}

/** Highest random weight (rendezvous) hashing: the weight of a verifier for a scanner. */
export function rendezvousWeight(verifierId: string, scanner: string): string {
  return createHash('sha256').update(`${verifierId}\u0000${scanner}`).digest('hex');
}

/** The member a scanner belongs to (ties are impossible: distinct ids give distinct digests). */
export function rendezvousOwner(members: Iterable<string>, scanner: string): string | undefined {
  let best: string | undefined;
  let bestWeight = '';
  for (const m of members) {
    const w = rendezvousWeight(m, scanner);
    if (best === undefined || w > bestWeight) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * The live verifiers of one group, learnt from their retained status messages, and the share of
 * the scanners that falls to this one: a scanner is answered by the live member with the highest
 * rendezvous weight for it. When a member leaves (its offline status or its will), only its own
 * scanners move, each to its second-highest member; a join takes from each member a fair share.
 * This verifier always counts itself while it runs. Owners are cached per scanner until the set
 * changes (the cache is bounded by the number of scanners asking).
 */
export function createVerifierGroup(config: VerifierGroupConfig): VerifierGroup {
  const others = new Set<string>();
  const owners = new Map<string, boolean>();

  return {
    status: (online, ts, reason) => ({
      online,
      service: 'verifier',
      group: config.group,
      partition: config.partition,
      ts,
      ...(reason === undefined ? {} : { reason }),
    }),

    onStatus(device, payload) {
      if (device === config.verifierId) return false;
      let body: Partial<VerifierStatus> | null = null;
      try {
        body = payload.length === 0 ? null : (JSON.parse(payload.toString('utf8')) as Partial<VerifierStatus>);
      } catch {
        body = null;
      }
      const member = body !== null && body.service === 'verifier' && body.group === config.group && body.partition === true && body.online === true;
      const changed = member ? !others.has(device) : others.delete(device);
      if (member) others.add(device);
      if (changed) owners.clear();
      return changed;
    },

    owns(scanner) {
      if (!config.partition) return true;
      let mine = owners.get(scanner);
      if (mine === undefined) {
        mine = rendezvousOwner([config.verifierId, ...others], scanner) === config.verifierId;
        owners.set(scanner, mine);
      }
      return mine;
    },

    members: () => (config.partition ? [config.verifierId, ...others].sort() : [config.verifierId]),
  };
}
