import { formatPlace, type Place } from '@cityops/protocol';
import { createSeededRandom } from '@cityops/edge-agent';

/** Shanghai's 16 districts: the city the simulator builds, down to grids and buildings. */
export const DISTRICTS = [
  'huangpu', 'xuhui', 'changning', 'jingan', 'putuo', 'hongkou', 'yangpu', 'minhang',
  'baoshan', 'jiading', 'pudong', 'jinshan', 'songjiang', 'qingpu', 'fengxian', 'chongming',
] as const;

export interface SensorSpec {
  readonly id: string;
  readonly metric: string;
}

export interface GatewaySpec {
  readonly id: string;
  readonly place: Place;
  /** What the gateway watches: decides its sensors. */
  readonly profile: GatewayProfile;
  readonly sensors: readonly SensorSpec[];
}

export type GatewayProfile = 'environment' | 'water' | 'traffic' | 'street' | 'venue';

/** Which sensors a gateway of each profile carries (metric names are the protocol's). */
export const PROFILE_METRICS: Readonly<Record<GatewayProfile, readonly string[]>> = {
  environment: ['pm25', 'noise', 'temperature'],
  water: ['water_pressure', 'water_level'],
  traffic: ['traffic_flow', 'noise'],
  street: ['manhole_tilt', 'water_level'],
  venue: ['crowd_density', 'temperature'],
};

const PROFILES = Object.keys(PROFILE_METRICS) as GatewayProfile[];

export interface CityOptions {
  readonly seed?: number;
  readonly districts?: number;
  readonly subdistrictsPerDistrict?: number;
  readonly gridsPerSubdistrict?: number;
  /** Total gateways, spread over the grids round-robin. */
  readonly gateways: number;
  /** Sensors of each metric on a gateway. */
  readonly sensorsPerMetric?: number;
  /** Gateway ids are `<prefix>00001`, … (default `gw-`). */
  readonly idPrefix?: string;
}

export interface City {
  readonly districts: readonly { readonly id: string; readonly subdistricts: readonly { readonly id: string; readonly grids: readonly string[] }[] }[];
  readonly gateways: readonly GatewaySpec[];
}

/**
 * Builds a city: districts, their sub-districts and grids, and gateways placed in grids (venue
 * gateways in a building) with the sensors their profile calls for. Deterministic in `seed`.
 */
export function generateCity(options: CityOptions): City {
  const random = createSeededRandom(options.seed ?? 1);
  const districtCount = Math.min(options.districts ?? DISTRICTS.length, DISTRICTS.length);
  const subCount = options.subdistrictsPerDistrict ?? 4;
  const gridCount = options.gridsPerSubdistrict ?? 6;
  const perMetric = options.sensorsPerMetric ?? 1;

  const districts = DISTRICTS.slice(0, districtCount).map((district) => ({
    id: district,
    subdistricts: Array.from({ length: subCount }, (_, s) => ({
      id: `${district}-s${String(s + 1).padStart(2, '0')}`,
      grids: Array.from({ length: gridCount }, (_, g) => `g${String(g + 1).padStart(3, '0')}`),
    })),
  }));
  // Gateway i goes to district i mod D, then the next sub-district, then the next grid: even a
  // small city covers every district.
  const cellOf = (i: number) => {
    const d = districts[i % districtCount]!;
    const s = d.subdistricts[Math.floor(i / districtCount) % subCount]!;
    const grid = s.grids[Math.floor(i / (districtCount * subCount)) % gridCount]!;
    return { district: d.id, subdistrict: s.id, grid };
  };

  const gateways: GatewaySpec[] = Array.from({ length: options.gateways }, (_, i) => {
    const cell = cellOf(i);
    const profile = PROFILES[Math.floor(random() * PROFILES.length)]!;
    const building = profile === 'venue' ? `b${String(1 + Math.floor(random() * 20)).padStart(2, '0')}` : '';
    const id = `${options.idPrefix ?? 'gw-'}${String(i + 1).padStart(5, '0')}`;
    const sensors = PROFILE_METRICS[profile].flatMap((metric) =>
      Array.from({ length: perMetric }, (_, k) => ({ id: `${metric}-${k + 1}`, metric })),
    );
    return { id, place: { ...cell, building }, profile, sensors };
  });
  return { districts, gateways };
}

export function describeCity(city: City): string {
  const grids = city.districts.reduce((n, d) => n + d.subdistricts.reduce((m, s) => m + s.grids.length, 0), 0);
  const sensors = city.gateways.reduce((n, g) => n + g.sensors.length, 0);
  const first = city.gateways[0];
  return (
    `${city.districts.length} districts, ${grids} grids, ${city.gateways.length} gateways, ${sensors} sensors` +
    (first === undefined ? '' : ` (e.g. ${first.id} at ${formatPlace(first.place)})`)
  );
}
