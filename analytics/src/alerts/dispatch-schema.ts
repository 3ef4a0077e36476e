import type { FromSchema } from 'json-schema-to-ts';
import { ALERT_KINDS } from './alert-signal.ts';
import { HIERARCHY_LEVELS } from '@cityops/protocol';
import { DURATION_PATTERN } from '../window-duration.ts';

const ID = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' } as const;
/** A place path prefix: '' (the city), `pudong`, `pudong/pudong-s01`, … */
const PLACE_PREFIX = { type: 'string', pattern: '^([a-z0-9][a-z0-9-]{0,47}(/[a-z0-9][a-z0-9-]{0,47}){0,3})?$' } as const;

export const departmentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'level', 'place'],
  properties: {
    id: ID,
    name: { type: 'string', minLength: 1, maxLength: 200 },
    /** Where the department sits in the city's hierarchy. */
    level: { type: 'string', enum: HIERARCHY_LEVELS },
    /** The area it answers for: a place path prefix, '' for the whole city. */
    place: PLACE_PREFIX,
    /** Where an alert it does not accept in time goes next; absent at the top. */
    parent: ID,
  },
} as const;

export const routeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['match', 'department', 'acceptWithin'],
  properties: {
    /** Every field given must match (AND); values in a list are alternatives (OR). */
    match: {
      type: 'object',
      additionalProperties: false,
      properties: {
        metrics: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, maxLength: 64 } },
        kinds: { type: 'array', minItems: 1, items: { type: 'string', enum: ALERT_KINDS } },
        placePrefix: PLACE_PREFIX,
      },
    },
    department: ID,
    /** Not accepted within this (`15m`, `1h`): escalated to the department's parent. */
    acceptWithin: { type: 'string', pattern: DURATION_PATTERN },
  },
} as const;

export const dispatchFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['departments', 'routes', 'fallback'],
  properties: {
    $schema: { type: 'string' },
    description: { type: 'string' },
    departments: { type: 'array', minItems: 1, items: departmentSchema },
    routes: { type: 'array', items: routeSchema },
    /** Where an alert no route matches goes: the city's duty office. */
    fallback: {
      type: 'object',
      additionalProperties: false,
      required: ['department', 'acceptWithin'],
      properties: { department: ID, acceptWithin: { type: 'string', pattern: DURATION_PATTERN } },
    },
  },
} as const;

export type Department = FromSchema<typeof departmentSchema>;
export type DispatchRoute = FromSchema<typeof routeSchema>;
export type DispatchFile = FromSchema<typeof dispatchFileSchema>;
