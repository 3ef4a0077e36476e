import { formatPlace, parseBasicCredentials, type TokenAuthenticator } from '@cityops/protocol';
import type { DeviceInfo, DeviceRegistry } from '@cityops/warehouse';
import { verifierErrors } from './errors.ts';

export type VerifyAccessMode = 'credentials' | 'open';

/** Who asks for a verdict, and so where it counts (issue 16). Never taken from the request body. */
export interface Requester {
  /** The venue verdicts are recorded at: the scanner's registered place, or the venue token's. None: open mode. */
  readonly venue: string | undefined;
  /**
   * The scanner recorded: the authenticated scanner's id. None for a venue token: the audit's
   * `scanner` column holds device ids (analytics looks them up in the registry, the dashboard
   * watches them fall silent), and a token's name there would pass for one.
   */
  readonly scanner: string | undefined;
  /** What a rate limit keys on: the scanner id, or `venue-token:<name>`. None: open mode. */
  readonly credential: string | undefined;
}

/** Open mode without credentials: judged at the venue the request names, counted for none. */
export const ANONYMOUS: Requester = Object.freeze({ venue: undefined, scanner: undefined, credential: undefined });

/** The parts of a verification request that come from who asks. */
export interface Attribution {
  /** Recorded (and judged) at. */
  readonly venue: string | undefined;
  /** Open mode only: the venue named in the request, for its policy; recorded for none. */
  readonly policyVenue: string | undefined;
  readonly scanner: string | undefined;
  readonly credential: string | undefined;
}

/**
 * Where a request counts. A request may name its own venue or none; naming another is refused with
 * VERIFIER_ERR_VENUE_MISMATCH, never re-attributed (a scanner that says it is elsewhere is either
 * misconfigured or lying: either way its verdict must not move that venue's figures).
 */
export function attribute(requester: Requester, named: string | undefined): Attribution {
  if (requester.venue === undefined) return { venue: undefined, policyVenue: named, scanner: undefined, credential: undefined };
  if (named !== undefined && named !== requester.venue) {
    throw verifierErrors.VERIFIER_ERR_VENUE_MISMATCH(`registered at ${requester.venue}, the request names ${named.slice(0, 200)}`);
  }
  return { venue: requester.venue, policyVenue: undefined, scanner: requester.scanner, credential: requester.credential };
}

export interface RequesterDirectory {
  readonly mode: VerifyAccessMode;
  /** HTTP: the requester of an Authorization header. Rejects VERIFIER_ERR_UNAUTHENTICATED (401) or a 403. */
  fromAuthorization(header: string | undefined): Promise<Requester>;
  /** MQTT: the scanner of a topic (the broker's ACL ties the topic to the authenticated device). Rejects VERIFIER_ERR_UNKNOWN_SCANNER. */
  fromTopic(scannerId: string): Promise<Requester>;
}

export interface RequesterDirectoryDeps {
  /** The device registry; absent (no warehouse): no scanner is known, only venue tokens. */
  readonly registry?: DeviceRegistry | undefined;
  readonly tokens: TokenAuthenticator;
}

const HOW = 'use HTTP Basic with the scanner id and secret, or Authorization: Bearer <token of role venue>';

/**
 * Who may ask the verifier (issue 16): scanners by their device credentials (the registry, cached
 * in memory: a known secret costs one SHA-256, device-registry.ts), venues by a token of role
 * `venue`. The venue always comes from the registry or the token.
 */
export function createRequesterDirectory(mode: VerifyAccessMode, deps: RequesterDirectoryDeps): RequesterDirectory {
  const { registry, tokens } = deps;
  // One Requester per registry entry (a refresh or a rotation makes new entries): no string built per request.
  const requesters = new WeakMap<DeviceInfo, Requester>();

  function scannerRequester(device: DeviceInfo | undefined): Requester | undefined {
    if (device === undefined || device.revoked || device.kind !== 'scanner') return undefined;
    let requester = requesters.get(device);
    if (requester === undefined) {
      requester = Object.freeze({ venue: formatPlace(device.place), scanner: device.id, credential: device.id });
      requesters.set(device, requester);
    }
    return requester;
  }

  async function fromBasic(id: string, secret: string): Promise<Requester> {
    if (registry === undefined) throw verifierErrors.VERIFIER_ERR_UNAUTHENTICATED('this verifier has no device registry (no warehouse): only venue tokens');
    let device: DeviceInfo;
    try {
      device = await registry.authenticate(id, secret);
    } catch (err) {
      // Busy (a login flood queued the secret checks): 503, the scanner retries; not a failed login.
      if ((err as { code?: string }).code === 'INGEST_ERR_REGISTRY_BUSY') throw err;
      // Unknown, revoked or a wrong secret: one answer, so that ids cannot be probed.
      throw verifierErrors.VERIFIER_ERR_UNAUTHENTICATED(`wrong scanner id or secret; ${HOW}`);
    }
    const requester = scannerRequester(device);
    if (requester === undefined) throw verifierErrors.VERIFIER_ERR_UNKNOWN_SCANNER(`${device.kind} ${device.id} is not a scanner`);
    return requester;
  }

  return {
    mode,
    fromAuthorization(header) {
      if (header === undefined) {
        return mode === 'open' ? Promise.resolve(ANONYMOUS) : Promise.reject(verifierErrors.VERIFIER_ERR_UNAUTHENTICATED(HOW));
      }
      const basic = parseBasicCredentials(header);
      if (basic !== undefined) return fromBasic(basic.id, basic.secret);
      const principal = tokens.authenticate(header);
      if (principal === undefined) return Promise.reject(verifierErrors.VERIFIER_ERR_UNAUTHENTICATED(HOW));
      if (principal.role !== 'venue' || principal.venue === undefined) {
        return Promise.reject(verifierErrors.VERIFIER_ERR_ROLE_FORBIDDEN(`role ${principal.role} may not ask for verdicts; only scanners and venue tokens`));
      }
      return Promise.resolve({ venue: principal.venue, scanner: undefined, credential: `venue-token:${principal.name}` });
    },
    async fromTopic(scannerId) {
      // Known scanners cost a map lookup; an unknown id re-reads the registry at most once a second.
      const requester = scannerRequester(registry?.get(scannerId) ?? (await registry?.find(scannerId)));
      if (requester !== undefined) return requester;
      if (mode === 'open') return ANONYMOUS;
      throw verifierErrors.VERIFIER_ERR_UNKNOWN_SCANNER(scannerId);
    },
  };
}
