import { describe, expect, it } from 'vitest';
import { formatPlace, isCityopsError, parsePlace } from '../src/index.ts';

describe('hierarchy paths', () => {
  it('parses grid- and building-level places and formats them back', () => {
    const grid = parsePlace('huangpu/nanjing-east/g-0012');
    expect(grid).toEqual({ district: 'huangpu', subdistrict: 'nanjing-east', grid: 'g-0012', building: '' });
    expect(formatPlace(grid)).toBe('huangpu/nanjing-east/g-0012');
    const building = parsePlace('pudong/lujiazui/g-1/b-7');
    expect(building.building).toBe('b-7');
    expect(formatPlace(building)).toBe('pudong/lujiazui/g-1/b-7');
  });

  it.each(['huangpu', 'a/b', 'a/b/c/d/e', 'A/b/c', 'a//c', 'a/b/c/', '-a/b/c', "a/b/c'; DROP TABLE x"])(
    'refuses %j',
    (text) => {
      expect(() => parsePlace(text)).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERR_PLACE_INVALID' }));
      try {
        parsePlace(text);
      } catch (err) {
        expect(isCityopsError(err)).toBe(true);
      }
    },
  );
});
