import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { certsCommand } from '../src/commands/certs.ts';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';

async function run(argv: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  await certsCommand(argv, out);
  return text;
}

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('cityops certs dev', () => {
  const root = mkdtemp(join(tmpdir(), 'cityops-certs-'));
  let ingest: CityopsProcess | undefined;
  afterAll(async () => {
    await ingest?.stop();
    await rm(await root, { recursive: true, force: true });
  });

  it('writes a CA, a server certificate for the hosts and a client certificate, keys private', async () => {
    const out = join(await root, 'dev');
    const text = await run(['dev', '--out', out, '--hosts', 'localhost,127.0.0.1,ingest.example', '--client', 'gw-1']);
    expect(text).toMatch(/cityops ingest --tls-dir/);
    expect((await readdir(out)).sort()).toEqual(['ca-key.pem', 'ca.pem', 'client-key.pem', 'client.pem', 'server-key.pem', 'server.pem']);
    for (const key of ['ca-key.pem', 'server-key.pem', 'client-key.pem']) expect((await stat(join(out, key))).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(await readFile(join(out, 'ca.pem')));
    const server = new X509Certificate(await readFile(join(out, 'server.pem')));
    const client = new X509Certificate(await readFile(join(out, 'client.pem')));
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(server.checkHost('ingest.example')).toBe('ingest.example');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('other.example')).toBeUndefined();
    expect(client.subject).toMatch(/CN=gw-1/);
    // Never over an existing CA unless asked.
    await expect(run(['dev', '--out', out])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE', message: expect.stringMatching(/--force/) as unknown });
    const before = await readFile(join(out, 'ca.pem'), 'utf8');
    await run(['dev', '--out', out, '--force']);
    expect(await readFile(join(out, 'ca.pem'), 'utf8')).not.toBe(before);
  });

  it('refuses bad hosts, days and usage with a clear message', async () => {
    const out = join(await root, 'bad');
    await expect(run(['dev', '--out', out, '--hosts', 'a b'])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE', message: expect.stringMatching(/not a DNS name/) as unknown });
    await expect(run(['dev', '--out', out, '--days', '0'])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(run(['dev'])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(run(['prod', '--out', out])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });

  it('cityops ingest --tls-dir serves HTTPS and MQTT over TLS with those files', async () => {
    const out = join(await root, 'served');
    await run(['dev', '--out', out]);
    const ca = await readFile(join(out, 'ca.pem'), 'utf8');
    const data = join(await root, 'data');
    ingest = await startCityops(['ingest', '--data', data, '--mqtt-port', '0', '--mqtts-port', '0', '--http-port', '0', '--no-fsync', '--tls-dir', out]);
    const httpUrl = String(ingest.ready.httpUrl);
    expect(httpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await httpsGet(`${httpUrl}/healthz`, ca)).toEqual({ status: 200, body: '{"status":"ok"}' });
    // Trusting nothing but the system store, the dev certificate is refused.
    await expect(fetch(`${httpUrl}/healthz`)).rejects.toThrow();
    const mqttsUrl = String(ingest.ready.mqttsUrl);
    // Unknown device, but the TLS handshake succeeded: the broker answered CONNACK 4.
    await expect(
      mqtt.connectAsync(mqttsUrl, { clientId: 'nobody', username: 'nobody', password: 'x', ca, reconnectPeriod: 0, connectTimeout: 10_000 }),
    ).rejects.toMatchObject({ code: 4 });
  });
});
