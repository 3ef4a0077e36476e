import { filterIsConfinedTo, referenceKindOf, topics, type Channel, type DeviceKind, type ParsedTopic } from '@cityops/protocol';
import type { DeviceInfo } from '@cityops/warehouse';

/** What each kind of device may publish under its own id. */
const OWN_CHANNELS: Readonly<Record<DeviceKind, readonly Channel[]>> = {
  gateway: ['telemetry', 'status', 'config-state'],
  scanner: ['verify-req', 'verify-events', 'status'],
  service: ['status'],
  // Issue 23: a console rates handled alerts of its departments under its own id.
  console: ['status', 'alert-ratings'],
};
/** What a service may publish about others: the verifier's answers, analytics' alert events, a device's desired configuration. */
const SERVICE_CHANNELS: readonly Channel[] = ['verify-res', 'alerts', 'config'];

/**
 * Whether `device` may publish on a topic: `parsed` is the topic in the per-device scheme, undefined
 * for the reference topics (trust list, revocation filter: every scanner's, services only).
 */
export function mayPublish(device: DeviceInfo, parsed: ParsedTopic | undefined): boolean {
  if (parsed === undefined) return device.kind === 'service';
  const own = parsed.device === device.id && OWN_CHANNELS[device.kind].includes(parsed.channel);
  return own || (device.kind === 'service' && SERVICE_CHANNELS.includes(parsed.channel));
}

/**
 * Whether `device` may subscribe to `filter`: a service to anything; a device to its own topics; a
 * console to its departments' alert topics and a scanner to the reference topics, each by its exact
 * name (no wildcard reaches further).
 */
export function maySubscribe(device: DeviceInfo, filter: string): boolean {
  if (device.kind === 'service' || filterIsConfinedTo(filter, device.id)) return true;
  if (device.kind === 'console') return device.departments.some((department) => filter === topics.alerts(department));
  return device.kind === 'scanner' && referenceKindOf(filter) !== undefined;
}
