import { protocolErrors } from './errors.ts';

/** Device ids appear in topics and in the registry; keep them to characters safe in both. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function assertDeviceId(id: string): string {
  if (!DEVICE_ID_PATTERN.test(id)) throw protocolErrors.PROTOCOL_ERR_DEVICE_ID_INVALID(JSON.stringify(id));
  return id;
}

/**
 * What a device is: a field gateway streaming telemetry, a venue scanner checking codes, a back-end
 * service (analytics, a verifier, a dashboard feed) that may read every device's topics, or a
 * department's console, which may read the alert topics of its own departments and nothing else.
 */
export const DEVICE_KINDS = ['gateway', 'scanner', 'service', 'console'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];
/** Kinds whose readings or verdicts are placed in the city: provisioning one needs a place. */
export const PLACED_DEVICE_KINDS: readonly DeviceKind[] = ['gateway', 'scanner'];
