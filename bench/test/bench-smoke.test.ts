import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../src/main.ts';

// A short run of every scenario, so that the benchmarks do not rot. Speed targets are judged by
// `npm run bench`, never here: this asserts only that each scenario runs end to end and reports.
describe('bench smoke run', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('runs every scenario end to end and writes the JSON and Markdown report', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cityops-bench-smoke-'));
    dirs.push(out);
    const { results, paths } = await runBench(['--smoke', '--out', out]);
    const codec = results.find((r) => r.scenario === 'codec');
    expect(codec?.figures.msgpack_shared_structures_bytes).toBeLessThan(codec?.figures.json_bytes ?? 0);
    const verify = results.find((r) => r.scenario === 'verify');
    expect(Object.keys(verify?.figures ?? {}).length).toBeGreaterThan(0);
    const query = results.find((r) => r.scenario === 'query');
    expect(query?.figures.district_p99_ms).toBeGreaterThan(0);
    expect(query?.figures.grid_p99_ms).toBeGreaterThan(0);
    const ingest = results.find((r) => r.scenario === 'ingest');
    expect(ingest?.figures.readings_per_second).toBeGreaterThan(0);
    expect(ingest?.figures.visible_samples).toBeGreaterThan(0);
    expect(ingest?.figures.chdb_ceiling_readings_per_second).toBeGreaterThan(0);
    const alerts = results.find((r) => r.scenario === 'alerts');
    expect(alerts?.figures.samples).toBeGreaterThan(0);
    expect(alerts?.figures.missed).toBe(0); // every breaching reading raised its grid's alert (how fast is bench's business)
    expect(alerts?.figures.alert_visible_p99_ms).toBeGreaterThan(0);
    expect(alerts?.figures.background_readings_per_second).toBeGreaterThan(0);
    const soak = results.find((r) => r.scenario === 'soak');
    expect(soak?.figures.samples).toBeGreaterThan(0);
    expect(soak?.figures.acked_readings).toBeGreaterThan(0);
    expect([soak?.figures.lost_readings, soak?.figures.duplicate_rows]).toEqual([0, 0]); // every acknowledged reading stored exactly once (memory targets are bench's business)
    const broker = results.find((r) => r.scenario === 'broker');
    expect(broker?.figures.relay_ours_saturation_delivered_per_second).toBeGreaterThan(0);
    expect(broker?.figures.relay_mosquitto_saturation_delivered_per_second).toBeGreaterThan(0);
    expect(broker?.figures.relay_ours_common_delivered_samples).toBeGreaterThan(0);
    expect(broker?.figures.relay_ratio_to_mosquitto).toBeGreaterThan(0); // the ratios' size is bench's business
    expect(broker?.figures.intake_ratio_to_peer_pipeline).toBeGreaterThan(0);
    expect(broker?.figures.intake_peer_stored_rows).toBeGreaterThan(0); // the peer pipeline stored in its own chDB
    expect(broker?.figures.intake_ours_stored_rows).toBeGreaterThan(0);
    expect(broker?.figures.intake_ours_lost_readings).toBe(0); // every reading ours acknowledged is in its store (count())
    const edge = results.find((r) => r.scenario === 'edge');
    expect(edge?.figures.gateway_1000_delivered_readings_per_second).toBeGreaterThan(0);
    expect(edge?.figures.outage_readings_journaled).toBe(edge?.figures.outage_readings);
    expect(edge?.figures.replay_readings_per_second).toBeGreaterThan(0);
    expect(edge?.figures.outage_rss_max_mib).toBeGreaterThan(0);
    expect(edge?.figures.modbus_registers_per_second).toBeGreaterThan(0); // the Modbus TCP poller against pymodbus delivered
    const scaling = results.find((r) => r.scenario === 'scaling');
    expect(scaling?.figures.verify_threads_2_verifications_per_verifier_cpu_second).toBeGreaterThan(0);
    expect(scaling?.figures.ingest_instances_2_readings_per_second).toBeGreaterThan(0);
    expect(scaling?.figures.ingest_instances_2_no_claims_readings_per_second).toBeGreaterThan(0); // the shared claim's cost, same run (issue 22)
    expect([scaling?.figures.lost_readings, scaling?.figures.duplicate_rows]).toEqual([0, 0]); // the ratios' sizes are bench's business
    const memory = results.find((r) => r.scenario === 'memory');
    expect(memory?.figures.slow_rss_max_mib).toBeGreaterThan(0); // sampled through every phase, the slow warehouse's last
    expect(memory?.figures.verify_ok_verdicts).toBeGreaterThan(memory?.figures.codes_cycled ?? Infinity); // codes of the city's own issuer verified OK (the memory targets are bench's business)
    const scan = results.find((r) => r.scenario === 'scan');
    expect(scan?.figures.ours_1280x720_frames_per_cpu_second).toBeGreaterThan(0);
    expect(scan?.figures.ours_640x480_read_of_9).toBe(9); // every generated frame with a code read (speed is bench's business)
    const hostile = results.find((r) => r.scenario === 'hostile');
    expect(hostile?.figures.quiet_acked_batches_per_second).toBeGreaterThan(0);
    expect(hostile?.figures.oversized_connect_refused_packets).toBeGreaterThan(0); // refused at the fixed header and counted (the ratios are bench's business)
    expect(hostile?.figures.quiet_wal_append_p99_ms_at_most).toBeGreaterThan(0); // the broker's own part of a PUBACK, per window
    expect(hostile?.figures.oversized_publish_attack_logged_in).toBeGreaterThan(0);
    expect(hostile?.figures.idle_one_address_refused_sockets_address_connections).toBeGreaterThan(0);
    // Each attack window against the quiet windows either side (the control too), and the broker's own heap beside its RSS.
    expect(hostile?.figures.none_p99_to_quiet).toBeGreaterThan(0);
    expect(hostile?.figures.oversized_connect_broker_heap_growth_mib).toBeGreaterThanOrEqual(0);
    expect([hostile?.figures.lost_readings, hostile?.figures.duplicate_rows]).toEqual([0, 0]);
    // The sensor flood's run against `cityops up`: the flood delivered, the city stopped by SIGTERM in time (exit 0).
    expect(hostile?.figures.flood_batches_acked).toBeGreaterThan(0);
    expect(hostile?.figures.flood_city_exit_code).toBe(0);
    expect([hostile?.figures.flood_gateway_lost_readings, hostile?.figures.flood_gateway_duplicate_rows]).toEqual([0, 0]);
    // Every reading of the flood stored within the device's sensor set or refused and counted (issue 17).
    expect(hostile!.figures.flood_readings_stored! + hostile!.figures.flood_readings_refused!).toBe(hostile?.figures.flood_sensor_ids);
    expect(hostile?.figures.flood_readings_refused).toBeGreaterThan(0);
    const report = JSON.parse(await readFile(paths.json, 'utf8')) as { machine: { node: string; cores: number } };
    expect(report.machine.node).toBe(process.version);
    expect(await readFile(paths.markdown, 'utf8')).toMatch(/## ingest/);
  }, 420_000); // twelve scenarios, most of them starting cityops processes (soak: ~40 s, scaling: ~35 s, broker: ~17 s at load 3, ~38 s at load 12, hostile: ~55 s with its `cityops up` run, memory: ~20 s)
});
