import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import type { DeviceLedger } from './acked-publisher.ts';

export interface AckCheck {
  /** Readings the load generator got a PUBACK for. */
  readonly ackedReadings: number;
  /** Of those, how many are not in the warehouse. */
  readonly lostReadings: number;
  /** Rows beyond the first for any (device, boot, seq, idx): the warehouse holding a reading twice. */
  readonly duplicateRows: number;
  /** Readings stored whose PUBACK never arrived (allowed: at least once, the publisher just did not hear back). */
  readonly storedUnacked: number;
}

/**
 * Asks the warehouse, device by device, for each batch's row count and distinct readings, then holds
 * them against the PUBACKs the load generator recorded: every acknowledged reading exactly once.
 */
export async function checkAcknowledged(warehouse: Warehouse, ledgers: readonly DeviceLedger[], readingsPerBatch: number): Promise<AckCheck> {
  let ackedReadings = 0;
  let lostReadings = 0;
  let duplicateRows = 0;
  let storedUnacked = 0;
  for (const ledger of ledgers) {
    const rows = await warehouse.query<{ seq: number; n: number; keys: number }>(
      'SELECT seq, toUInt32(count()) AS n, toUInt32(uniqExact(idx)) AS keys FROM readings WHERE device = {d:String} AND boot = {b:UInt32} GROUP BY seq',
      { d: ledger.device, b: ledger.boot },
    );
    const stored = new Map<number, number>();
    for (const r of rows) {
      stored.set(Number(r.seq), Number(r.keys));
      duplicateRows += Number(r.n) - Number(r.keys);
    }
    for (const [first, last] of ledger.acked) {
      for (let seq = first; seq <= last; seq++) {
        ackedReadings += readingsPerBatch;
        lostReadings += readingsPerBatch - (stored.get(seq) ?? 0);
        stored.delete(seq);
      }
    }
    for (const keys of stored.values()) storedUnacked += keys;
  }
  return { ackedReadings, lostReadings, duplicateRows, storedUnacked };
}

/** `checkAcknowledged` on the embedded (chDB) warehouse at `path`, opened for it and closed after: once its service has stopped. */
export async function checkAcknowledgedInStore(path: string, ledgers: readonly DeviceLedger[], readingsPerBatch: number): Promise<AckCheck> {
  const warehouse = await openWarehouse({ backend: 'chdb', path });
  try {
    return await checkAcknowledged(warehouse, ledgers, readingsPerBatch);
  } finally {
    await warehouse.close();
  }
}
