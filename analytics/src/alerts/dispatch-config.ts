import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileSchemaCheck, deepFreeze } from '@cityops/protocol';
import { analyticsErrors } from '../errors.ts';
import { durationSeconds } from '../window-duration.ts';
import type { AlertKind } from './alert-signal.ts';
import { dispatchFileSchema, type Department, type DispatchFile } from './dispatch-schema.ts';

/** Shanghai's departments and routes, shipped with analytics. */
export const CITY_DISPATCH_PATH = fileURLToPath(new URL('../../alerts/city-dispatch.json', import.meta.url));

const checkFile = compileSchemaCheck(dispatchFileSchema);

/** Where an alert goes and how long the department has to accept it. */
export interface DispatchTarget {
  readonly department: string;
  readonly acceptWithinMs: number;
}

export interface Dispatch {
  readonly departments: readonly Department[];
  department(id: string): Department | undefined;
  /** The most specific route for an alert: longest placePrefix, then metric over kind, then file order. */
  route(alert: { readonly metric?: string | undefined; readonly kind: AlertKind; readonly place: string }): DispatchTarget;
}

/** Whether `place` is `prefix` or below it (segment-wise: `pudong` is not a prefix of `pudongx`). */
export function placeUnder(place: string, prefix: string): boolean {
  return prefix === '' || place === prefix || place.startsWith(`${prefix}/`);
}

/** What a schema cannot say: ids unique, every department referenced exists, no parent cycles. */
function semanticProblems(file: DispatchFile): string[] {
  const problems: string[] = [];
  const ids = new Map<string, number>();
  file.departments.forEach((d, i) => {
    const first = ids.get(d.id);
    if (first !== undefined) problems.push(`/departments/${i}/id ${d.id} is already used by /departments/${first}`);
    else ids.set(d.id, i);
  });
  file.departments.forEach((d, i) => {
    if (d.parent !== undefined && !ids.has(d.parent)) problems.push(`/departments/${i}/parent ${d.parent} is not a department`);
    if (d.parent === d.id) problems.push(`/departments/${i}/parent is the department itself`);
  });
  file.routes.forEach((r, i) => {
    if (!ids.has(r.department)) problems.push(`/routes/${i}/department ${r.department} is not a department`);
  });
  if (!ids.has(file.fallback.department)) problems.push(`/fallback/department ${file.fallback.department} is not a department`);
  // A cycle: walking parents from a department comes back to one already on the walk.
  const parentOf = new Map(file.departments.map((d) => [d.id, d.parent]));
  const reported = new Set<string>();
  for (const d of file.departments) {
    const seen = new Set<string>();
    let at: string | undefined = d.id;
    while (at !== undefined && !seen.has(at)) {
      seen.add(at);
      at = parentOf.get(at);
    }
    if (at !== undefined && !reported.has(at)) {
      const cycle: string[] = [at];
      for (let p = parentOf.get(at); p !== undefined && p !== at; p = parentOf.get(p)) cycle.push(p);
      cycle.forEach((c) => reported.add(c));
      problems.push(`/departments parents form a cycle: ${[...cycle, at].join(' -> ')}`);
    }
  }
  return problems;
}

/** Validates a dispatch document; every problem in one ANALYTICS_ERR_DISPATCH_INVALID. */
export function parseDispatch(input: unknown): Dispatch {
  const copy: unknown = structuredClone(input ?? {});
  const problems = checkFile(copy);
  if (problems.length === 0) problems.push(...semanticProblems(copy as DispatchFile));
  if (problems.length > 0) throw analyticsErrors.ANALYTICS_ERR_DISPATCH_INVALID(problems.join('; '));
  const file = deepFreeze(copy as DispatchFile);
  const byId = new Map(file.departments.map((d) => [d.id, d]));
  const routes = file.routes.map((r, order) => ({ ...r, order, acceptWithinMs: durationSeconds(r.acceptWithin) * 1000 }));
  const fallback: DispatchTarget = {
    department: file.fallback.department,
    acceptWithinMs: durationSeconds(file.fallback.acceptWithin) * 1000,
  };
  return {
    departments: file.departments,
    department: (id) => byId.get(id),
    route(alert) {
      let best: ((typeof routes)[number] & { score: [number, number] }) | undefined;
      for (const r of routes) {
        const { metrics, kinds, placePrefix } = r.match;
        if (metrics !== undefined && (alert.metric === undefined || !metrics.includes(alert.metric))) continue;
        if (kinds !== undefined && !kinds.includes(alert.kind)) continue;
        if (placePrefix !== undefined && !placeUnder(alert.place, placePrefix)) continue;
        const score: [number, number] = [placePrefix === undefined || placePrefix === '' ? 0 : placePrefix.split('/').length, metrics === undefined ? 0 : 1];
        if (best === undefined || score[0] > best.score[0] || (score[0] === best.score[0] && score[1] > best.score[1])) best = { ...r, score };
      }
      return best === undefined ? fallback : { department: best.department, acceptWithinMs: best.acceptWithinMs };
    },
  };
}

/** Reads and validates a dispatch file; unreadable or not JSON is the same coded error. */
export function loadDispatch(path: string = CITY_DISPATCH_PATH): Dispatch {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw analyticsErrors.ANALYTICS_ERR_DISPATCH_INVALID(`cannot read ${path} as JSON: ${(err as Error).message}`, err);
  }
  return parseDispatch(json);
}
