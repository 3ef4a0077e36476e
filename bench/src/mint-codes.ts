import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { DevelopmentIssuer } from '@cityops/protocol';
import { benchLicence } from './licence-mix.ts';

/** A licence mix (issue 23): every `every`th code is a licence (licence-mix.ts) of `issuer`. */
export interface LicenceMix {
  readonly issuer: DevelopmentIssuer;
  readonly every: number;
}

/**
 * Mints `count` distinct green health codes (with `licences`, every `every`th a licence instead) on
 * `threads` worker threads: a code costs ~125 µs (ES256 signature, CBOR, a trial deflate), so one
 * thread would take longer than a measurement.
 */
export async function mintCodes(issuer: DevelopmentIssuer, count: number, threads: number, licences?: LicenceMix): Promise<string[]> {
  const one = (i: number, prefix: string) =>
    licences !== undefined && i % licences.every === 0
      ? licences.issuer.issueLicence({ licence: benchLicence(prefix, i), validMinutes: 600 })
      : issuer.issueHealthCode({ subject: `${prefix}${i}`, colour: 'green', validMinutes: 600 });
  // A worker's start (tsx, the protocol's modules) costs about a second: not worth it for a few codes.
  if (count <= 5000) return Array.from({ length: count }, (_, i) => one(i, 'bench-'));
  // An eval'd worker is CommonJS: it registers tsx itself (as the verifier's pool workers do), then imports the protocol.
  const script = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { createPrivateKey } = require('node:crypto');
    (async () => {
      (await import(workerData.tsx)).register();
      const { createCodeIssuer } = await import(workerData.protocol);
      const { benchLicence } = await import(workerData.licenceMix);
      const issuer = createCodeIssuer({ kid: Buffer.from(workerData.kid, 'base64'), privateKey: createPrivateKey(workerData.key), alg: 'ES256', issuer: workerData.issuer });
      const l = workerData.licences;
      const licensor = l && createCodeIssuer({ kid: Buffer.from(l.kid, 'base64'), privateKey: createPrivateKey(l.key), alg: l.alg, issuer: l.issuer });
      const codes = [];
      for (let i = 0; i < workerData.count; i++) {
        codes.push(licensor && i % l.every === 0
          ? licensor.issueLicence({ licence: benchLicence(workerData.prefix, i), validMinutes: 600 })
          : issuer.issueHealthCode({ subject: workerData.prefix + i, colour: 'green', validMinutes: 600 }));
      }
      parentPort.postMessage(codes);
    })();`;
  const per = Math.ceil(count / threads);
  const parts = await Promise.all(
    Array.from({ length: threads }, async (_, t) => {
      const worker = new Worker(script, {
        eval: true,
        workerData: {
          tsx: import.meta.resolve('tsx/esm/api'),
          protocol: import.meta.resolve('@cityops/protocol'),
          licenceMix: import.meta.resolve('./licence-mix.ts'),
          licences:
            licences === undefined
              ? undefined
              : { kid: licences.issuer.kid.toString('base64'), key: licences.issuer.privateKeyPem(), alg: licences.issuer.alg, issuer: licences.issuer.issuer, every: licences.every },
          kid: issuer.kid.toString('base64'),
          key: issuer.privateKeyPem(),
          issuer: issuer.issuer,
          count: Math.min(per, count - t * per),
          prefix: `bench-${t}-`,
        },
      });
      const [codes] = (await once(worker, 'message')) as [string[]];
      await worker.terminate();
      return codes;
    }),
  );
  return parts.flat();
}
