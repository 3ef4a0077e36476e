import type { Warehouse } from '@cityops/warehouse';
import { eventToRow, rowToEvent, type AlertEvent, type AlertEventRow } from './alert-event.ts';

const COLUMNS = `alert_id, seq, toUnixTimestamp64Milli(at) AS at, type, actor, state, key, rule, kind, severity, place,
  level, metric, subject, department, parent_key, summary, feedback, value, threshold, verification, rating, rating_stage, flagged_for`;

/** The alert events in the warehouse (`alert_events`, migration 7): append, and read back to rebuild. */
export function createAlertEventStore(warehouse: Warehouse) {
  return {
    /** One insert for the events of one transition (opened + dispatched land together or not at all). */
    async append(events: readonly AlertEvent[]): Promise<void> {
      if (events.length === 0) return;
      await warehouse.insertRows('alert_events', events.map(eventToRow) as unknown as Record<string, unknown>[]);
    },

    /**
     * Every event of the alerts that are not closed, and of those closed since `closedSince`, in
     * (alert, seq) order. A row stored twice by a retried insert is folded once.
     */
    async loadRecent(closedSince: number): Promise<AlertEvent[]> {
      const rows = await warehouse.query<AlertEventRow>(
        `SELECT ${COLUMNS} FROM alert_events
         WHERE alert_id IN (
           SELECT alert_id FROM alert_events GROUP BY alert_id
           HAVING argMax(state, seq) != 'closed' OR max(at) >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
         )
         ORDER BY alert_id, seq`,
        { since: closedSince },
      );
      return rows.map(rowToEvent);
    },

    /** One alert's events, for an alert no longer kept in memory. */
    async loadAlert(alertId: string): Promise<AlertEvent[]> {
      const rows = await warehouse.query<AlertEventRow>(
        `SELECT ${COLUMNS} FROM alert_events WHERE alert_id = {id:String} ORDER BY seq`,
        { id: alertId },
      );
      return rows.map(rowToEvent);
    },
  };
}

export type AlertEventStore = ReturnType<typeof createAlertEventStore>;
