import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipelineStatusParser, createTelemetryCodec, topics, type PipelineStatus } from '@cityops/protocol';
import { startHarness, type Harness } from './ingest-harness.ts';

const codec = createTelemetryCodec();
const parseStatus = createPipelineStatusParser();

describe('what live subscribers see', () => {
  let h: Harness;
  let gatewaySecret: string;
  let serviceSecret: string;

  beforeAll(async () => {
    h = await startHarness({ pipelineStatus: { instance: 'ingest-t', intervalMs: 100 } });
    gatewaySecret = await h.provision('gw-http');
    serviceSecret = await h.provision('svc-live', 'service');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('forwards telemetry accepted over HTTP to subscribers of the device topic, once', async () => {
    const service = await h.connect('svc-live', serviceSecret);
    await service.subscribeAsync(topics.allOf('telemetry'), { qos: 1 });
    const seen: { topic: string; value: number }[] = [];
    service.on('message', (topic, payload) => {
      if (!topic.startsWith('cityops/v1/telemetry/')) return;
      seen.push({ topic, value: codec.decode(payload).readings[0]!.value });
    });
    const body = codec.encode({ boot: 1, seq: 1, readings: [{ sensor: 'pm-1', metric: 'pm25', ts: Date.now() - 100, value: 77 }] });
    const post = () =>
      fetch(`${h.addresses.httpUrl}/v1/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/msgpack', authorization: `Basic ${Buffer.from(`gw-http:${gatewaySecret}`).toString('base64')}` },
        body,
      });
    expect((await post()).status).toBe(202);
    // The duplicate is acknowledged but not forwarded.
    expect((await post()).status).toBe(200);
    await expect.poll(() => seen.length).toBe(1);
    const barrier = codec.encode({ boot: 1, seq: 2, readings: [{ sensor: 'pm-1', metric: 'pm25', ts: Date.now() - 50, value: 78 }] });
    await fetch(`${h.addresses.httpUrl}/v1/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack', authorization: `Basic ${Buffer.from(`gw-http:${gatewaySecret}`).toString('base64')}` },
      body: barrier,
    });
    await expect.poll(() => seen.length).toBe(2);
    expect(seen).toEqual([
      { topic: topics.telemetry('gw-http'), value: 77 },
      { topic: topics.telemetry('gw-http'), value: 78 },
    ]);
  });

  it('publishes its pipeline status, retained, and offline when it stops', async () => {
    const service = await h.connect('svc-live', serviceSecret);
    const statuses: PipelineStatus[] = [];
    service.on('message', (topic, payload) => {
      if (topic !== topics.pipeline('ingest-t')) return;
      const { status, problems } = parseStatus(payload);
      expect(problems).toEqual([]);
      if (status !== undefined) statuses.push(status);
    });
    await service.subscribeAsync(topics.allOf('pipeline'), { qos: 1 });
    await expect.poll(() => statuses.length).toBeGreaterThan(1);
    expect(statuses[0]).toMatchObject({ instance: 'ingest-t', online: true, backlogRows: expect.any(Number) as number });
    expect(statuses[0]!.oldestPendingMs).toBeGreaterThanOrEqual(0);
    await h.service.stop();
    expect(statuses.at(-1)).toMatchObject({ online: false, reason: 'stopped' });
  });
});
