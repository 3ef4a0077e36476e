import type { AccessPrincipal } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import { AUDIT_TABLE, dateTime64 } from './audit-writer.ts';

/** What an auditor asks for: one venue (or all), a time range, a bound on rows. */
export interface AuditTrailFilter {
  readonly venue?: string | undefined;
  readonly from: number;
  readonly to: number;
  readonly limit: number;
}

/** A verdict as the audit trail keeps it: the person only as a pseudonym, never a code or subject. */
export interface AuditTrailRow {
  readonly at: string;
  readonly venue: string;
  readonly kind: string;
  readonly verdict: string;
  readonly reason: string;
  readonly issuer: string;
  readonly pseudonym: string;
  readonly scanner: string;
  readonly transport: string;
  readonly offline: boolean;
  readonly stale: boolean;
}

export const AUDIT_READS_TABLE = 'audit_reads';

// `e.at` in the filter: the text alias `at` of the result would otherwise shadow the column.
const SELECT =
  'SELECT toString(e.at) AS at, venue, kind, verdict, reason, issuer, pseudonym, scanner, transport, offline, stale ' +
  `FROM ${AUDIT_TABLE} AS e ` +
  "WHERE e.at >= {from:DateTime64(3, 'UTC')} AND e.at < {to:DateTime64(3, 'UTC')} AND ({venue:String} = '' OR venue = {venue:String}) " +
  'ORDER BY e.at, venue LIMIT {limit:UInt32}';

export interface AuditTrailReader {
  /**
   * The rows of the filter, after the read is recorded in `audit_reads` (who, when, filter, rows).
   * When the record cannot be written the rows are not returned: no unaudited read of personal data.
   */
  read(filter: AuditTrailFilter, reader: AccessPrincipal, address: string): Promise<AuditTrailRow[]>;
}

export function createAuditTrailReader(deps: { readonly warehouse: Warehouse; readonly now: () => number }): AuditTrailReader {
  const { warehouse } = deps;
  return {
    async read(filter, reader, address) {
      const rows = await warehouse.query<AuditTrailRow>(SELECT, {
        from: dateTime64(filter.from),
        to: dateTime64(filter.to),
        venue: filter.venue ?? '',
        limit: filter.limit,
      });
      await warehouse.insertRows(AUDIT_READS_TABLE, [
        {
          at: dateTime64(deps.now()),
          reader: reader.name,
          role: reader.role,
          route: 'GET /v1/audit',
          filter: JSON.stringify({ venue: filter.venue ?? null, from: filter.from, to: filter.to, limit: filter.limit }),
          rows: rows.length,
          address,
        },
      ]);
      return rows.map((r) => ({ ...r, offline: Boolean(r.offline), stale: Boolean(r.stale) }));
    },
  };
}
