import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drainPending, Session } from 'chdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPeerRowWriter, PEER_READINGS_STRUCTURE } from '../src/peer-rowbinary.ts';

// The broker bench's peer pipeline writes RowBinary by hand: chDB must read back exactly what went in.
describe('peer RowBinary writer', () => {
  let dir: string;
  let session: Session;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-peer-rowbinary-'));
    session = new Session(join(dir, 'store'));
  });
  afterAll(async () => {
    session.close();
    await drainPending();
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips through chDB: multi-byte string lengths, UTF-8, times past 2^32 ms, floats, alarms, growth', async () => {
    const writer = createPeerRowWriter(64, 1 << 20); // starts tiny: the batch must grow it
    const now = Date.now();
    const longSensor = `s-${'é'.repeat(100)}`; // 202 bytes of UTF-8: a two-byte LEB128 length
    expect(writer.append('gw-1', 4_000_000_000, 7, now + 50, [
      { sensor: longSensor, metric: 'pm25', ts: now, value: 12.5 },
      { sensor: 's2', metric: 'noise_db', ts: now + 1, value: -0.25, alarm: true },
    ])).toBe(true);
    expect(writer.append('gw-2', 1, 8, now + 60, [{ sensor: 'x', metric: 'temp_c', ts: 1, value: 1e300 }])).toBe(true);
    expect(writer.rows).toBe(3);
    const file = join(dir, 'rows.rowbinary');
    await writeFile(file, writer.bytes());
    const result = await session.queryBindAsync(
      "SELECT device, boot, seq, toUnixTimestamp64Milli(received_at) AS r, sensor, metric, toUnixTimestamp64Milli(ts) AS t, value, alarm FROM file({path:String}, 'RowBinary', {structure:String})",
      { path: file, structure: PEER_READINGS_STRUCTURE },
      { format: 'JSONEachRow' },
    );
    const rows = result.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.device, Number(r.boot), Number(r.seq), Number(r.r), r.sensor, r.metric, Number(r.t), r.value, r.alarm])).toEqual([
      ['gw-1', 4_000_000_000, 7, now + 50, longSensor, 'pm25', now, 12.5, false],
      ['gw-1', 4_000_000_000, 7, now + 50, 's2', 'noise_db', now + 1, -0.25, true],
      ['gw-2', 1, 8, now + 60, 'x', 'temp_c', 1, 1e300, false],
    ]);
  });

  it('refuses a batch that would pass its byte bound, writing nothing of it, and starts over after reset()', () => {
    const writer = createPeerRowWriter(256, 1024);
    const readings = Array.from({ length: 30 }, (_, i) => ({ sensor: `sensor-${i}`, metric: 'pm25', ts: i, value: i }));
    expect(writer.append('gw-1', 1, 1, 0, readings.slice(0, 5))).toBe(true);
    const before = writer.bytes().length;
    expect(writer.append('gw-1', 1, 2, 0, readings)).toBe(false);
    expect([writer.rows, writer.bytes().length]).toEqual([5, before]);
    writer.reset();
    expect([writer.rows, writer.bytes().length]).toEqual([0, 0]);
  });
});
