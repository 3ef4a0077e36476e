import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANNELS, CityopsError, DEVICE_ID_PATTERN, filterIsConfinedTo, parseTopic, TOPIC_ROOT, topics, type Channel } from '../src/index.ts';
import { steadyMs } from './steady-time.ts';

/**
 * Hostile topics: parseTopic answers any string with a correct parse or PROTOCOL_ERR_TOPIC_INVALID,
 * and filterIsConfinedTo never lets a wildcard, a look-alike or another device's topic pass.
 */

const deviceId = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);
const channel = fc.constantFrom(...CHANNELS);

/** What the builders are called for each channel (the names differ from the channels for two). */
const BUILD: Record<Channel, (id: string) => string> = {
  telemetry: topics.telemetry,
  status: topics.status,
  errors: topics.errors,
  'verify-req': topics.verifyRequest,
  'verify-res': topics.verifyResponse,
  'verify-events': topics.verifyEvents,
  pipeline: topics.pipeline,
  alerts: topics.alerts,
  config: topics.config,
  'config-state': topics.configState,
  'alert-ratings': topics.alertRatings,
};

/** Topic-shaped hostile strings: the scheme's segments mixed with wildcards, unicode, NUL, slashes. */
const segment = fc.oneof(
  fc.constantFrom('cityops', 'v1', 'v2', 'CITYOPS', '', '+', '#', '\0', '..', '.', ' ', 'cityops\0', 'v1 ', ...CHANNELS),
  deviceId,
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('/', '+', '#', '\0', 'a', '-', '\u202e', '\uff0f', '\ud800'), maxLength: 8 }),
);
const topicLike = fc.oneof(
  fc.array(segment, { minLength: 0, maxLength: 6 }).map((s) => s.join('/')),
  fc.tuple(channel, segment).map(([c, d]) => `${TOPIC_ROOT}/${c}/${d}`),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: 65, max: 100_000 }).map((n) => `${TOPIC_ROOT}/telemetry/${'x'.repeat(n)}`),
);


function parseOutcome(topic: string): { channel: string; device: string } | 'TOPIC_INVALID' {
  try {
    return parseTopic(topic);
  } catch (err) {
    if (!(err instanceof CityopsError)) throw new Error(`parseTopic threw a non-coded ${String(err)}`, { cause: err });
    expect(err.code).toBe('PROTOCOL_ERR_TOPIC_INVALID');
    expect(err.statusCode).toBe(400);
    // The message quotes at most 200 characters of the topic: a 100 KB topic is not logged whole.
    expect(err.message.length).toBeLessThan(400);
    return 'TOPIC_INVALID';
  }
}

describe('topics under hostile input', () => {
  it('round-trips parse(build(channel, id)) for every valid id', () => {
    fc.assert(
      fc.property(channel, deviceId, (c, id) => {
        expect(parseTopic(BUILD[c](id))).toEqual({ channel: c, device: id });
        expect(BUILD[c](id)).toBe(`${TOPIC_ROOT}/${c}/${id}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('parses a string only when it is exactly a built topic, else PROTOCOL_ERR_TOPIC_INVALID', () => {
    let parsed = 0;
    fc.assert(
      fc.property(topicLike, (topic) => {
        const outcome = parseOutcome(topic);
        expect(steadyMs(() => parseTopic(topic), 50)).toBeLessThan(250);
        if (outcome === 'TOPIC_INVALID') return;
        parsed++;
        // Whatever parses is a topic we would build, so no wildcard, NUL or extra level got through.
        expect(DEVICE_ID_PATTERN.test(outcome.device)).toBe(true);
        expect(BUILD[outcome.channel as Channel](outcome.device)).toBe(topic);
      }),
      { numRuns: 3000 },
    );
    expect(parsed).toBeGreaterThan(0);
  });

  it('refuses device ids with anything outside the pattern, wherever it sits', () => {
    fc.assert(
      fc.property(channel, deviceId, fc.constantFrom('+', '#', '/', '\0', ' ', 'é', '\u{1F600}', '\n', '%2F'), fc.nat(), (c, id, bad, at) => {
        const i = at % (id.length + 1);
        expect(parseOutcome(`${TOPIC_ROOT}/${c}/${id.slice(0, i)}${bad}${id.slice(i)}`)).toBe('TOPIC_INVALID');
      }),
      { numRuns: 1000 },
    );
  });

  it('confines a filter to a device only when it names that device exactly, never through a wildcard', () => {
    fc.assert(
      fc.property(fc.oneof(topicLike, fc.tuple(channel, deviceId).map(([c, d]) => BUILD[c](d))), deviceId, (filter, device) => {
        const confined = filterIsConfinedTo(filter, device);
        if (!confined) return;
        expect(filter.includes('+') || filter.includes('#') || filter.includes('\0')).toBe(false);
        expect(parseTopic(filter).device).toBe(device);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(channel, deviceId, (c, device) => {
        expect(filterIsConfinedTo(BUILD[c](device), device)).toBe(true);
        for (const wild of [`${TOPIC_ROOT}/${c}/+`, `${TOPIC_ROOT}/+/${device}`, `${TOPIC_ROOT}/#`, '#', `+/v1/${c}/${device}`, `${TOPIC_ROOT}/${c}/${device}/#`]) {
          expect(filterIsConfinedTo(wild, device)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});
