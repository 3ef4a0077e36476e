import { describe, expect, it } from 'vitest';
import { filterIsConfinedTo, isCityopsError, parseTopic, topics } from '../src/index.ts';

describe('topic scheme', () => {
  it('builds and parses the per-device topics', () => {
    expect(topics.telemetry('gw-1')).toBe('cityops/v1/telemetry/gw-1');
    expect(parseTopic(topics.status('gw-1'))).toEqual({ channel: 'status', device: 'gw-1' });
    expect(parseTopic(topics.errors('a.b_c'))).toEqual({ channel: 'errors', device: 'a.b_c' });
  });

  it.each([
    '',
    'cityops/v1/telemetry',
    'cityops/v1/telemetry/gw-1/extra',
    'cityops/v2/telemetry/gw-1',
    'cityops/v1/unknown/gw-1',
    'cityops/v1/telemetry/+',
    'cityops/v1/telemetry/#',
    'cityops/v1/telemetry/has space',
    `cityops/v1/telemetry/${'x'.repeat(65)}`,
  ])('refuses %j with a code', (topic) => {
    let caught: unknown;
    try {
      parseTopic(topic);
    } catch (err) {
      caught = err;
    }
    expect(isCityopsError(caught, 'PROTOCOL_ERR_TOPIC_INVALID')).toBe(true);
  });

  it('confines subscription filters to one device', () => {
    expect(filterIsConfinedTo('cityops/v1/errors/gw-1', 'gw-1')).toBe(true);
    expect(filterIsConfinedTo('cityops/v1/errors/gw-2', 'gw-1')).toBe(false);
    expect(filterIsConfinedTo('cityops/v1/errors/+', 'gw-1')).toBe(false);
    expect(filterIsConfinedTo('cityops/v1/#', 'gw-1')).toBe(false);
    expect(filterIsConfinedTo('#', 'gw-1')).toBe(false);
  });
});
