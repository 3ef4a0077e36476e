import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
// Imported, not read from disk at run time, so that a bundle (npm run build:gateway) carries them.
import schema100 from './dcc-schemas/1.0.0.json' with { type: 'json' };
import schema101 from './dcc-schemas/1.0.1.json' with { type: 'json' };
import schema110 from './dcc-schemas/1.1.0.json' with { type: 'json' };
import schema120 from './dcc-schemas/1.2.0.json' with { type: 'json' };
import schema130 from './dcc-schemas/1.3.0.json' with { type: 'json' };
import schema131 from './dcc-schemas/1.3.1.json' with { type: 'json' };
import schema132 from './dcc-schemas/1.3.2.json' with { type: 'json' };

/**
 * Every published release of the DCC JSON schema we ship (`dcc-schemas/`, see its README), oldest
 * first. 1.2.1 is not among them: a certificate declaring it is read with 1.2.0.
 */
export const DCC_SCHEMA_VERSIONS = ['1.0.0', '1.0.1', '1.1.0', '1.2.0', '1.3.0', '1.3.1', '1.3.2'] as const;
export type DccSchemaVersion = (typeof DCC_SCHEMA_VERSIONS)[number];

const SCHEMAS: Readonly<Record<DccSchemaVersion, object>> = {
  '1.0.0': schema100,
  '1.0.1': schema101,
  '1.1.0': schema110,
  '1.2.0': schema120,
  '1.3.0': schema130,
  '1.3.1': schema131,
  '1.3.2': schema132,
};

/** The schemas' own `ver` pattern, dots unescaped as published ("^\d+.\d+.\d+$"). */
const VER = /^(\d+).(\d+).(\d+)$/;

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

const SHIPPED = DCC_SCHEMA_VERSIONS.map((v) => ({ version: v, parts: v.split('.').map(Number) }));

/**
 * The schema a certificate declaring `ver` is validated with: the same release; for an unknown patch
 * of a minor we ship (1.2.1, 1.3.5), the newest patch of that minor we ship at or below it, else that
 * minor's newest; for a `ver` newer than anything shipped (1.4.0, 2.0.0) the newest; for one older than
 * anything (0.9.0), or unreadable, the oldest. The schema then judges the `ver` text itself.
 */
export function dccSchemaVersionFor(ver: unknown): DccSchemaVersion {
  const m = typeof ver === 'string' ? VER.exec(ver) : null;
  if (m === null) return DCC_SCHEMA_VERSIONS[0];
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
  const sameMinor = SHIPPED.filter((s) => s.parts[0] === parts[0] && s.parts[1] === parts[1]);
  if (sameMinor.length > 0) {
    const atOrBelow = sameMinor.filter((s) => compare(s.parts, parts) <= 0);
    return (atOrBelow.at(-1) ?? sameMinor.at(-1)!).version;
  }
  const below = SHIPPED.filter((s) => compare(s.parts, parts) < 0);
  return (below.at(-1) ?? SHIPPED[0]!).version;
}

/** What one schema says of a payload: binding errors, and advisory (format) findings. */
export interface DccSchemaFinding {
  readonly valid: boolean;
  readonly errors: readonly ErrorObject[];
  /** Formats (`date`, `date-time`) the payload misses: advisory, the schema marks them `format` only. */
  readonly advisories: readonly string[];
}

export interface DccSchemaSet {
  check(version: DccSchemaVersion, payload: unknown): DccSchemaFinding;
}

/** RFC 3339 §5.6 full-date, checked against the calendar. */
export function isFullDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m === null) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** RFC 3339 §5.6 date-time: full-date "T" time with seconds, optional fraction, Z or an offset. */
export function isDateTime(text: string): boolean {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/.exec(text);
  return m !== null && isFullDate(m[1]!);
}

/**
 * The shipped schemas, each compiled on first use (start-up compiles none of them), one Ajv
 * per release since all share one `$id`. JSON Schema 2020-12 makes `format` an annotation unless
 * asserted; the DCC schemas use it for dates the business rules read, so a miss is recorded as an
 * advisory and never fails validation. Value sets are `valueset-uri` annotations, never enforced.
 */
export function createDccSchemaSet(): DccSchemaSet {
  const compiled = new Map<DccSchemaVersion, ValidateFunction>();
  // Filled by the format callbacks during one synchronous validate() call, then read and reset.
  let advisories: string[] = [];
  const advisoryFormat = (name: string, test: (s: string) => boolean) => (text: string) => {
    if (!test(text)) advisories.push(`a ${name} field is not an RFC 3339 ${name}`);
    return true;
  };

  function validator(version: DccSchemaVersion): ValidateFunction {
    let validate = compiled.get(version);
    if (validate === undefined) {
      // strictRequired off: the published oneOf/anyOf name properties declared at the level above.
      const ajv = new Ajv2020({
        allErrors: true,
        strict: true,
        strictRequired: false,
        // The files are checked against the 2020-12 meta-schema by the test, not at every start:
        // compiling the meta-schema per release would cost ~40 ms each.
        validateSchema: false,
        formats: { date: advisoryFormat('full-date', isFullDate), 'date-time': advisoryFormat('date-time', isDateTime) },
      });
      ajv.addKeyword({ keyword: 'valueset-uri', schemaType: 'string' });
      validate = ajv.compile(SCHEMAS[version]);
      compiled.set(version, validate);
    }
    return validate;
  }

  return {
    check(version, payload) {
      const validate = validator(version);
      advisories = [];
      const valid = validate(payload);
      const found = [...new Set(advisories)];
      advisories = [];
      return { valid, errors: validate.errors ?? [], advisories: found };
    },
  };
}
