import { isCityopsError } from '@cityops/protocol';
import { describe, expect, it } from 'vitest';
import { loadDispatch, parseDispatch } from '../src/index.ts';

function problems(input: unknown): string {
  try {
    parseDispatch(input);
  } catch (err) {
    expect(isCityopsError(err, 'ANALYTICS_ERR_DISPATCH_INVALID')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected the dispatch file to be refused');
}

// Shanghai's 16 districts, as simulators/src/city.ts names them (analytics does not import simulators).
const DISTRICTS = [
  'huangpu', 'xuhui', 'changning', 'jingan', 'putuo', 'hongkou', 'yangpu', 'minhang',
  'baoshan', 'jiading', 'pudong', 'jinshan', 'songjiang', 'qingpu', 'fengxian', 'chongming',
];

const dept = (id: string, parent?: string) => ({ id, name: id, level: 'district', place: '', ...(parent ? { parent } : {}) });

describe('dispatch file', () => {
  it('ships a Shanghai set: five departments in every district under municipal bureaus', () => {
    const dispatch = loadDispatch();
    for (const d of DISTRICTS) {
      for (const unit of ['ecology', 'water', 'traffic', 'public-security', 'ops-center']) {
        const department = dispatch.department(`${d}-${unit}`);
        expect(department, `${d}-${unit}`).toMatchObject({ place: d, parent: `city-${unit}` });
        expect(dispatch.department(`city-${unit}`)?.parent).toBe('city-duty-office');
      }
    }
    expect(dispatch.route({ metric: 'pm25', kind: 'threshold', place: 'jingan/jingan-s02/g003' })).toEqual({ department: 'jingan-ecology', acceptWithinMs: 15 * 60_000 });
    expect(dispatch.route({ metric: 'water_level', kind: 'rate_of_change', place: 'pudong/pudong-s01/g001' }).department).toBe('pudong-water');
    expect(dispatch.route({ kind: 'verification_anomaly', place: 'huangpu/huangpu-s01/g001/b01' }).department).toBe('huangpu-public-security');
    expect(dispatch.route({ kind: 'gateway_offline', place: 'minhang/minhang-s03/g002' }).department).toBe('minhang-ops-center');
    expect(dispatch.route({ kind: 'scanner_flood', place: 'pudong/pudong-s02/g004/b02' }).department).toBe('pudong-ops-center');
    expect(dispatch.route({ kind: 'scanner_flood', place: '' }).department).toBe('city-ops-center');
    expect(dispatch.route({ metric: 'pm25', kind: 'threshold', place: '' }).department).toBe('city-ecology');
    expect(dispatch.route({ kind: 'pipeline_backlog', place: '' }).department).toBe('city-ops-center');
    expect(dispatch.route({ metric: 'radiation', kind: 'threshold', place: 'elsewhere/x/y' })).toEqual({ department: 'city-duty-office', acceptWithinMs: 30 * 60_000 });
  });

  it('picks the most specific route: longest place prefix, then metric over kind, then file order', () => {
    const dispatch = parseDispatch({
      departments: [dept('a'), dept('b'), dept('c'), dept('d'), dept('e'), dept('duty')],
      routes: [
        { match: { kinds: ['threshold'] }, department: 'a', acceptWithin: '5m' },
        { match: { metrics: ['pm25'] }, department: 'b', acceptWithin: '5m' },
        { match: { kinds: ['threshold'], placePrefix: 'pudong' }, department: 'c', acceptWithin: '5m' },
        { match: { placePrefix: 'pudong/pudong-s01' }, department: 'd', acceptWithin: '1h' },
        { match: { metrics: ['pm25'], placePrefix: 'pudong' }, department: 'e', acceptWithin: '5m' },
        { match: { metrics: ['pm25'], placePrefix: 'pudong' }, department: 'a', acceptWithin: '5m' },
      ],
      fallback: { department: 'duty', acceptWithin: '30m' },
    });
    expect(dispatch.route({ metric: 'pm25', kind: 'threshold', place: 'xuhui/x/g' }).department).toBe('b');
    expect(dispatch.route({ metric: 'noise', kind: 'threshold', place: 'xuhui/x/g' }).department).toBe('a');
    expect(dispatch.route({ metric: 'pm25', kind: 'threshold', place: 'pudong/pudong-s02/g' }).department).toBe('e');
    expect(dispatch.route({ metric: 'noise', kind: 'threshold', place: 'pudong/pudong-s02/g' }).department).toBe('c');
    expect(dispatch.route({ metric: 'pm25', kind: 'threshold', place: 'pudong/pudong-s01/g' })).toEqual({ department: 'd', acceptWithinMs: 3_600_000 });
    // `pudong` is not a prefix of `pudongx`.
    expect(dispatch.route({ metric: 'noise', kind: 'grid_quiet', place: 'pudongx/a/b' }).department).toBe('duty');
  });

  it('reports every problem at once: unknown departments, parents, cycles, schema', () => {
    const message = problems({
      departments: [dept('a', 'b'), dept('b', 'c'), dept('c', 'a'), dept('d', 'ghost'), dept('a'), { id: 'Bad Id', name: '', level: 'town', place: '' }],
      routes: [{ match: { metrics: ['pm25'] }, department: 'nobody', acceptWithin: '15m' }],
      fallback: { department: 'duty', acceptWithin: '30m' },
    });
    expect(message).toContain('/departments/5/id');
    expect(message).toContain('/departments/5/level');
    const semantic = problems({
      departments: [dept('a', 'b'), dept('b', 'c'), dept('c', 'a'), dept('d', 'ghost'), dept('b', 'c')],
      routes: [{ match: { metrics: ['pm25'] }, department: 'nobody', acceptWithin: '15m' }],
      fallback: { department: 'duty', acceptWithin: '30m' },
    });
    expect(semantic).toContain('/departments/4/id b is already used by /departments/1');
    expect(semantic).toContain('/departments/3/parent ghost is not a department');
    expect(semantic).toContain('/routes/0/department nobody is not a department');
    expect(semantic).toContain('/fallback/department duty is not a department');
    expect(semantic).toMatch(/parents form a cycle: a -> b -> c -> a/);
    expect(problems({ departments: [dept('a')], routes: [{ match: {}, department: 'a', acceptWithin: '15 minutes' }], fallback: { department: 'a', acceptWithin: '1m' } })).toContain('/routes/0/acceptWithin');
  });
});
