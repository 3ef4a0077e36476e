import { DEVICE_ID_PATTERN, TOPIC_ROOT, protocolErrors } from '@cityops/protocol';

/**
 * MQTT request/response for scanners (note for the lead: these belong in protocol/src/topics.ts,
 * and the ingest broker's ACL must learn them before scanners use its broker):
 *
 *   cityops/v1/verify/req/{scanner}   scanner -> verifier  {"id": "...", "qr": "...", "venue": "..."}
 *   cityops/v1/verify/res/{scanner}   verifier -> scanner  {"id": "...", ...verdict}
 *
 * MQTT 3.1.1 has no correlation data or response topic properties (aedes 1.2 refuses MQTT 5), so
 * the reply topic is derived from the request topic and the correlation id travels in the payload.
 */
export const VERIFY_DIRECTIONS = ['req', 'res'] as const;
export type VerifyDirection = (typeof VERIFY_DIRECTIONS)[number];

export const verifyTopics = {
  request: (scanner: string) => `${TOPIC_ROOT}/verify/req/${scanner}`,
  response: (scanner: string) => `${TOPIC_ROOT}/verify/res/${scanner}`,
  /** The verifier's subscription: requests of every scanner. */
  allRequests: () => `${TOPIC_ROOT}/verify/req/+`,
} as const;

export function parseVerifyTopic(topic: string): { direction: VerifyDirection; scanner: string } {
  const parts = topic.split('/');
  const [root, version, channel, direction, scanner] = parts;
  if (
    parts.length !== 5 ||
    `${root}/${version}` !== TOPIC_ROOT ||
    channel !== 'verify' ||
    !(VERIFY_DIRECTIONS as readonly string[]).includes(direction ?? '') ||
    !DEVICE_ID_PATTERN.test(scanner ?? '')
  ) {
    throw protocolErrors.PROTOCOL_ERR_TOPIC_INVALID(JSON.stringify(topic.slice(0, 200)));
  }
  return { direction: direction as VerifyDirection, scanner: scanner as string };
}
