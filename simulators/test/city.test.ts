import { describe, expect, it } from 'vitest';
import { METRICS } from '@cityops/edge-agent';
import { formatPlace, parsePlace } from '@cityops/protocol';
import { DISTRICTS, describeCity, generateCity } from '../src/index.ts';

describe('city generator', () => {
  it("builds Shanghai's 16 districts with sub-districts, grids and placed gateways", () => {
    const city = generateCity({ gateways: 500, subdistrictsPerDistrict: 3, gridsPerSubdistrict: 5 });
    expect(city.districts.map((d) => d.id)).toEqual([...DISTRICTS]);
    expect(city.districts.every((d) => d.subdistricts.length === 3 && d.subdistricts.every((s) => s.grids.length === 5))).toBe(true);
    expect(city.gateways).toHaveLength(500);
    expect(new Set(city.gateways.map((g) => g.id)).size).toBe(500);
    // Gateways spread over every district, and every place is a valid hierarchy path.
    expect(new Set(city.gateways.map((g) => g.place.district)).size).toBe(16);
    for (const g of city.gateways) expect(parsePlace(formatPlace(g.place))).toEqual(g.place);
    // Venue gateways sit in a building; the others at grid level.
    for (const g of city.gateways) expect(g.place.building === '').toBe(g.profile !== 'venue');
    expect(describeCity(city)).toMatch(/^16 districts, 240 grids, 500 gateways/);
  });

  it('gives gateways only sensors the agent can simulate, of every kind across the city', () => {
    const city = generateCity({ gateways: 200 });
    const metrics = new Set(city.gateways.flatMap((g) => g.sensors.map((s) => s.metric)));
    for (const m of metrics) expect(METRICS).toContain(m);
    expect(metrics.size).toBe(METRICS.length);
  });

  it('is deterministic in its seed', () => {
    expect(generateCity({ gateways: 50, seed: 9 })).toEqual(generateCity({ gateways: 50, seed: 9 }));
    expect(generateCity({ gateways: 50, seed: 9 })).not.toEqual(generateCity({ gateways: 50, seed: 10 }));
  });
});
