import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { drainPending, Session } from 'chdb';
import mqtt from 'mqtt';
import { Packr } from 'msgpackr';
import { TELEMETRY_STRUCTURES } from '@cityops/protocol';
import type { PeerIntakeCommand, PeerIntakeConfig, PeerIntakeCounts, PeerIntakeMessage } from './peer-intake-messages.ts';
import { createPeerRowWriter, PEER_READINGS_STRUCTURE, type PeerReading, type PeerRowWriter } from './peer-rowbinary.ts';

// The intake pipeline a user would assemble from peers, as its own process: an mqtt.js subscriber
// (QoS 1 on cityops/v1/telemetry/+, PUBACK on receipt) decoding our msgpack batches with msgpackr
// (the published record structures) and inserting into embedded chDB in RowBinary through a file,
// batched by rows or time, one insert at a time. No validation, no dedup, no durability.
const config = JSON.parse(process.argv[2] ?? '{}') as PeerIntakeConfig;
const send = (message: PeerIntakeMessage) => process.send?.(message);
await mkdir(config.dir, { recursive: true });
const session = new Session(config.dir);
session.query(`CREATE TABLE IF NOT EXISTS readings (${PEER_READINGS_STRUCTURE}) ENGINE = MergeTree ORDER BY (device, sensor, ts)`);
const unpackr = new Packr({ structures: TELEMETRY_STRUCTURES.map((s) => [...s]), maxSharedStructures: TELEMETRY_STRUCTURES.length, useRecords: true, mapsAsObjects: true });
const PREFIX = 'cityops/v1/telemetry/';
const writers: PeerRowWriter[] = [createPeerRowWriter(1 << 20, config.maxBufferBytes), createPeerRowWriter(1 << 20, config.maxBufferBytes)];
let filling = 0;
let inserting: Promise<void> | undefined;
let timer: NodeJS.Timeout | undefined;
let fileNo = 0;
const counts = { receivedBatches: 0, droppedBatches: 0, undecodable: 0, inserts: 0 };

async function insert(writer: PeerRowWriter): Promise<void> {
  const file = join(config.dir, `batch-${fileNo++}.rowbinary`);
  await writeFile(file, writer.bytes());
  await session.queryBindAsync(`INSERT INTO readings SELECT * FROM file({path:String}, 'RowBinary', {structure:String})`, { path: file, structure: PEER_READINGS_STRUCTURE });
  counts.inserts++;
  writer.reset();
  await rm(file, { force: true });
}

/** Hands the filled buffer to an insert (when none runs) and fills the other meanwhile. */
function flush(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  const writer = writers[filling]!;
  if (inserting !== undefined || writer.rows === 0) return;
  filling = 1 - filling;
  inserting = insert(writer)
    .catch((err: unknown) => {
      send({ type: 'error', message: `insert: ${String(err)}` });
    })
    .finally(() => {
      inserting = undefined;
      const next = writers[filling]!;
      if (next.rows >= config.flushRows) flush();
      else if (next.rows > 0 && timer === undefined) timer = setTimeout(flush, config.flushMs);
    });
}

const client = await mqtt.connectAsync(config.brokerUrl, { clientId: config.clientId, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
client.on('message', (topic, payload) => {
  counts.receivedBatches++;
  let batch: { boot: number; seq: number; readings: PeerReading[] };
  try {
    batch = unpackr.unpack(payload) as typeof batch;
  } catch {
    counts.undecodable++;
    return;
  }
  const writer = writers[filling]!;
  if (!writer.append(topic.slice(PREFIX.length), batch.boot, batch.seq, Date.now(), batch.readings)) {
    counts.droppedBatches++;
    return;
  }
  if (writer.rows >= config.flushRows) flush();
  else if (timer === undefined) timer = setTimeout(flush, config.flushMs);
});
await client.subscribeAsync(`${PREFIX}+`, { qos: 1 });

async function countNow(): Promise<PeerIntakeCounts> {
  const result = await session.queryAsync('SELECT count() AS n FROM readings', { format: 'JSONEachRow' });
  return { stored: Number(result.json<{ n: string | number }>().n), ...counts };
}

process.on('message', (raw) => {
  const command = raw as PeerIntakeCommand;
  if (command.type === 'count') countNow().then((c) => send({ type: 'count', counts: c }), (err: unknown) => send({ type: 'error', message: String(err) }));
  else if (command.type === 'stop') {
    void (async () => {
      await client.endAsync();
      while (inserting !== undefined || writers.some((w) => w.rows > 0)) {
        flush();
        await inserting;
      }
      const c = await countNow();
      session.close();
      await drainPending();
      // Stays until killed (PeerIntake.close()): its CPU time is read after this answer.
      send({ type: 'stopped', counts: c });
    })().catch((err: unknown) => send({ type: 'error', message: String(err) }));
  }
});
send({ type: 'ready' });
