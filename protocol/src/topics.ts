import { DEVICE_ID_PATTERN } from './device-id.ts';
import { protocolErrors } from './errors.ts';

/**
 * The MQTT topic scheme, built and parsed here only. Every topic starts with `cityops/v1/`, then a
 * channel, then the device the message is about:
 *
 *   cityops/v1/telemetry/{device}   gateway -> ingest, telemetry batches (QoS 1)
 *   cityops/v1/status/{device}      online/offline, retained; the offline message is the last will
 *   cityops/v1/errors/{device}      ingest -> device, readable errors about what it sent
 *   cityops/v1/verify-req/{device}  scanner -> verifier, `{"id", "qr", "venue"?}`
 *   cityops/v1/verify-res/{device}  verifier -> scanner, `{"id", ...verdict}`
 *   cityops/v1/verify-events/{device}  scanner -> verifier, verdicts it gave offline, uploaded later
 *   cityops/v1/pipeline/{instance}  ingest -> services, its pipeline health every second, retained
 *   cityops/v1/alerts/{department}  analytics -> consoles, every new alert and transition (`unassigned`
 *                                   before a first dispatch); the alert id is in the payload
 *   cityops/v1/config/{device}      ingest -> device, its desired configuration, retained (issue 18);
 *                                   only services publish, a device subscribes to its own only
 *   cityops/v1/config-state/{device}  device -> ingest, `{version, state, reason?}` per version it tried
 *   cityops/v1/alert-ratings/{device}  console -> analytics, `{alertId, rating, comment?}` (issue 23): a
 *                                   department's rating of a handled alert, under the console's own id
 *
 * MQTT 3.1.1 has no correlation data or response-topic properties (and aedes 1.2 refuses MQTT 5), so
 * a reply's topic follows from the request's and the correlation id travels in the payload.
 *
 * MQTT 3.1.1 §4.7.1: `+` and `#` are wildcards, so device ids never contain them (see DEVICE_ID_PATTERN).
 */
export const TOPIC_ROOT = 'cityops/v1';

export const CHANNELS = [
  'telemetry', 'status', 'errors', 'verify-req', 'verify-res', 'verify-events', 'pipeline', 'alerts',
  // Remote configuration (issue 18): desired state in, reported state out.
  'config', 'config-state',
  // A console's ratings of handled alerts (issue 23).
  'alert-ratings',
] as const;
export type Channel = (typeof CHANNELS)[number];

export interface ParsedTopic {
  readonly channel: Channel;
  readonly device: string;
}

export const topics = {
  telemetry: (device: string) => `${TOPIC_ROOT}/telemetry/${device}`,
  status: (device: string) => `${TOPIC_ROOT}/status/${device}`,
  errors: (device: string) => `${TOPIC_ROOT}/errors/${device}`,
  verifyRequest: (device: string) => `${TOPIC_ROOT}/verify-req/${device}`,
  verifyResponse: (device: string) => `${TOPIC_ROOT}/verify-res/${device}`,
  verifyEvents: (device: string) => `${TOPIC_ROOT}/verify-events/${device}`,
  /** An ingest instance's pipeline health (`PipelineStatus`); the instance id follows the device id pattern. */
  pipeline: (instance: string) => `${TOPIC_ROOT}/pipeline/${instance}`,
  /** A department's alert events; department ids follow the device id pattern. */
  alerts: (department: string) => `${TOPIC_ROOT}/alerts/${department}`,
  /** A device's desired configuration (`DeviceConfigMessage`), retained. */
  config: (device: string) => `${TOPIC_ROOT}/config/${device}`,
  /** What a device did with a configuration version (`DeviceConfigReport`). */
  configState: (device: string) => `${TOPIC_ROOT}/config-state/${device}`,
  /** A console's ratings of handled alerts; analytics reads the department from the registry, never the payload. */
  alertRatings: (device: string) => `${TOPIC_ROOT}/alert-ratings/${device}`,
  /** Subscription filter for one channel of every device. */
  allOf: (channel: Channel) => `${TOPIC_ROOT}/${channel}/+`,
} as const;

export function parseTopic(topic: string): ParsedTopic {
  const parts = topic.split('/');
  const [root, version, channel, device] = parts;
  if (
    parts.length !== 4 ||
    `${root}/${version}` !== TOPIC_ROOT ||
    !(CHANNELS as readonly string[]).includes(channel ?? '') ||
    !DEVICE_ID_PATTERN.test(device ?? '')
  ) {
    throw protocolErrors.PROTOCOL_ERR_TOPIC_INVALID(JSON.stringify(topic.slice(0, 200)));
  }
  return { channel: channel as Channel, device: device as string };
}

/**
 * Whether a subscription filter can only ever match topics about `device` (or topics outside the
 * per-device channels altogether, which devices may not subscribe to either).
 */
export function filterIsConfinedTo(filter: string, device: string): boolean {
  const parts = filter.split('/');
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return false;
  return (CHANNELS as readonly string[]).includes(parts[2] ?? '') && parts[3] === device;
}

/**
 * Reference data for scanners (issue 18), one topic per kind and not per device:
 *
 *   cityops/v1/reference/trust       verifier -> every scanner, the trust list, retained
 *   cityops/v1/reference/revocation  verifier -> every scanner, the revocation filter, retained
 *
 * Each message is a signed, versioned envelope (verifier's reference-envelope.ts). Only services
 * publish here; any scanner may subscribe, to these exact topics (no wildcard reaches them).
 */
export const REFERENCE_TOPIC_KINDS = ['trust', 'revocation'] as const;
export type ReferenceTopicKind = (typeof REFERENCE_TOPIC_KINDS)[number];

export const referenceTopics: Readonly<Record<ReferenceTopicKind, string>> = Object.freeze({
  trust: `${TOPIC_ROOT}/reference/trust`,
  revocation: `${TOPIC_ROOT}/reference/revocation`,
});

/** The kind a reference topic carries, or undefined for any other topic or filter (wildcards included). */
export function referenceKindOf(topic: string): ReferenceTopicKind | undefined {
  return REFERENCE_TOPIC_KINDS.find((kind) => referenceTopics[kind] === topic);
}
