import { protocolErrors } from './errors.ts';

/** Device ids appear in topics and in the registry; keep them to characters safe in both. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function assertDeviceId(id: string): string {
  if (!DEVICE_ID_PATTERN.test(id)) throw protocolErrors.PROTOCOL_ERR_DEVICE_ID_INVALID(JSON.stringify(id));
  return id;
}

/**
 * What a device is: a field gateway streaming telemetry, a venue scanner checking codes, or a
 * back-end service (analytics, a verifier, a dashboard feed) that may read every device's topics.
 */
export const DEVICE_KINDS = ['gateway', 'scanner', 'service'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];
