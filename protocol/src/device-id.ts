import { protocolErrors } from './errors.ts';

/** Device ids appear in topics and in the registry; keep them to characters safe in both. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function assertDeviceId(id: string): string {
  if (!DEVICE_ID_PATTERN.test(id)) throw protocolErrors.PROTOCOL_ERR_DEVICE_ID_INVALID(JSON.stringify(id));
  return id;
}
