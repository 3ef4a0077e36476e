import type { Reading } from '@cityops/protocol';
import type { ReadRequest } from './read-plan.ts';
import { decodeRegister } from './register-decode.ts';
import type { RegisterSpec } from './register-map-schema.ts';

export interface DecodedRegister {
  readonly spec: RegisterSpec;
  /** raw x scale + offset; undefined when that is not a finite number (a float32 NaN, say). */
  readonly value: number | undefined;
  readonly alarm: boolean;
}

function isAlarm(spec: RegisterSpec, value: number): boolean {
  const { above, below } = spec.alarm ?? {};
  return (above !== undefined && value > above) || (below !== undefined && value < below);
}

/** The value of every register spec a request feeds, from the words its answer carried. */
export function decodeAnswer(request: ReadRequest, words: readonly number[]): DecodedRegister[] {
  return request.registers.map(({ spec, at }) => {
    // 12 significant digits: 812 x 0.01 is 8.12, not 8.120000000000001 (no sensor resolves more).
    const value = Number((decodeRegister(spec, words, at) * spec.scale + spec.offset).toPrecision(12));
    if (!Number.isFinite(value)) return { spec, value: undefined, alarm: false };
    return { spec, value, alarm: isAlarm(spec, value) };
  });
}

export function toReading(decoded: DecodedRegister & { value: number }, ts: number): Reading {
  const { spec, value, alarm } = decoded;
  return alarm ? { sensor: spec.sensor, metric: spec.metric, ts, value, alarm: true } : { sensor: spec.sensor, metric: spec.metric, ts, value };
}
