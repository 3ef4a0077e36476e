import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { Warehouse } from '@cityops/warehouse';
import { createDeviceDirectory } from '../src/rules/device-directory.ts';

/**
 * A registry in memory behind the directory's two queries: `devices` is what the next load reads;
 * while `gate` is set, every load waits for it; `fail` makes the next load's query reject.
 */
function fakeRegistry() {
  const state = {
    devices: [] as string[],
    loads: 0,
    gate: undefined as Promise<void> | undefined,
    fail: false,
  };
  const warehouse = {
    async query(sql: string) {
      if (!sql.includes('FROM devices')) return [];
      state.loads++;
      const devices = [...state.devices];
      if (state.fail) {
        state.fail = false;
        throw new Error('warehouse down');
      }
      await state.gate;
      return devices.map((id) => ({ id, kind: 'gateway', district: 'pudong', subdistrict: 'pudong-s01', grid: 'g001', building: '', revoked: 0, max_sensors: 0 }));
    },
  } as unknown as Warehouse;
  return { state, warehouse };
}

function deferred() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const WAIT = { timeout: 15_000, interval: 5 };

describe('device directory: waiting for a device the copy does not know yet', () => {
  it('answers with the device from a re-read started after the call, and with undefined when the registry has no such device', async () => {
    const { state, warehouse } = fakeRegistry();
    const directory = createDeviceDirectory({ refreshMs: 3_600_000, unknownRefreshMs: 100 }, { warehouse, now: Date.now, logger: pino({ level: 'silent' }) });
    await directory.start();
    try {
      expect(directory.known('gw-late')).toBeUndefined();
      state.devices.push('gw-late');
      const entry = await directory.whenRead('gw-late');
      expect(entry?.id).toBe('gw-late');
      expect(entry?.places[3]).toBe('pudong/pudong-s01/g001');
      expect(directory.known('gw-late')).toBe(entry);
      await expect(directory.whenRead('gw-never')).resolves.toBeUndefined();
    } finally {
      await directory.stop();
    }
  });

  it('never takes a re-read that was already running for one that started after the call', async () => {
    const { state, warehouse } = fakeRegistry();
    const directory = createDeviceDirectory({ refreshMs: 3_600_000, unknownRefreshMs: 100 }, { warehouse, now: Date.now, logger: pino({ level: 'silent' }) });
    await directory.start();
    try {
      const gate = deferred();
      state.gate = gate.promise;
      const running = directory.refresh(); // reads the registry as it is now: without gw-new
      await vi.waitFor(() => expect(state.loads).toBe(2), WAIT);
      state.devices.push('gw-new');
      let answered: unknown = 'pending';
      const waited = directory.whenRead('gw-new').then((e) => (answered = e));
      state.gate = undefined;
      gate.open();
      await running;
      expect(answered).toBe('pending');
      await waited;
      expect((answered as { id: string } | undefined)?.id).toBe('gw-new');
      expect(state.loads).toBe(3);
    } finally {
      await directory.stop();
    }
  });

  it('keeps waiting through a failed re-read and answers from the next; at stop, answers undefined', async () => {
    const { state, warehouse } = fakeRegistry();
    const directory = createDeviceDirectory({ refreshMs: 3_600_000, unknownRefreshMs: 100 }, { warehouse, now: Date.now, logger: pino({ level: 'silent' }) });
    await directory.start();
    state.devices.push('gw-x');
    state.fail = true;
    const entry = await directory.whenRead('gw-x');
    expect(entry?.id).toBe('gw-x');
    expect(state.loads).toBe(3); // start, the failed one, the retry

    const gate = deferred();
    state.gate = gate.promise;
    const pending = directory.whenRead('gw-y');
    const stopped = directory.stop();
    gate.open();
    await stopped;
    await expect(pending).resolves.toBeUndefined();
    await expect(directory.whenRead('gw-x')).resolves.toBeUndefined();
  });
});
