import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../test-peers/free-port.ts';
import { startPtyPair, type PtyPair } from '../../test-peers/socat-pty.ts';
import { scanCommand } from '../src/commands/scan.ts';
import { createShutdown, type Shutdown } from '../src/shutdown.ts';
import { collectJsonLines } from './printed-json.ts';

const WAIT = { timeout: 15_000, interval: 50 };
// A line with a control byte: a bad line (reported, not verified), so probing leaves no verdict behind.
const PROBE = '\u0001probe';

describe('cityops scan --serial (a socat pty pair as the scanner, verifying offline)', () => {
  let dir: string;
  let pty: PtyPair;
  let shutdown: Shutdown | undefined;
  const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
  const rogue = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'silent';
    dir = await mkdtemp(join(tmpdir(), 'cityops-scan-serial-'));
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    pty = await startPtyPair(dir);
  });
  afterAll(async () => {
    await shutdown?.run(); // a test that failed half-way leaves its command running
    await pty?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a verdict for each code typed on the scanner end, and goes on after the scanner is unplugged and back', async () => {
    const out = new PassThrough();
    const printed = collectJsonLines(out);
    shutdown = createShutdown();
    const noBroker = `mqtt://127.0.0.1:${await freePort()}`;
    const command = scanCommand(
      [
        '--scanner', 'gate-serial', '--broker', noBroker, '--connect-wait-ms', '0', '--trust', join(dir, 'trust.json'), '--data', join(dir, 'gate-serial'),
        '--venue', 'putuo/putuo-s01/g002/b04', '--serial', pty.device, '--baud', '19200', '--parity', 'even', '--data-bits', '7', '--stop-bits', '2',
        '--flow', 'rtscts', '--terminator', 'any', '--prefix', '\\x02', '--suffix', '\\x03',
      ],
      out,
      shutdown,
      new PassThrough(), // stdin is not read with --serial
    );
    const badLines = () => printed.filter((p) => p.error === 'SCANNER_ERR_INPUT_LINE');
    const verdicts = () => printed.filter((p) => p.verdict !== undefined);
    /** Bytes typed before the agent holds the line are lost, as on a real one: a bad line until one is answered. */
    async function untilListening(): Promise<void> {
      const answered = badLines().length;
      await vi.waitFor(async () => {
        if (badLines().length === answered) await pty.type(`${PROBE}\r`);
        expect(badLines().length).toBeGreaterThan(answered);
      }, WAIT);
    }

    await untilListening();
    await pty.type(`\u0002${health.issueHealthCode({ subject: 'p-1', colour: 'green' })}\u0003\r\n`);
    await pty.type(`${rogue.issueHealthCode({ subject: 'p-2', colour: 'green' })}\r`);
    await pty.type(Buffer.concat([Buffer.from([0x00, 0xff, 0x1b]), Buffer.from(`\n${health.issueHealthCode({ subject: 'p-3', colour: 'red' })}\n`)]));
    await pty.type('CHC1:GGW\r');
    // A code whose content is JSON naming a laxer venue: from a scanner it is the code's text, no instruction.
    await pty.type(`${JSON.stringify({ qr: health.issueHealthCode({ subject: 'p-6', colour: 'red' }), venue: 'lenient-venue' })}\r`);
    await vi.waitFor(() => expect(verdicts()).toHaveLength(5), WAIT);
    expect(verdicts()).toEqual([
      expect.objectContaining({ verdict: 'allow', reason: 'OK', kind: 'health-code', offline: true }),
      expect.objectContaining({ verdict: 'deny', reason: 'UNKNOWN_KEY', offline: true }),
      expect.objectContaining({ verdict: 'deny', reason: 'POLICY_DENIED', colour: 'red', offline: true }),
      expect.objectContaining({ verdict: 'deny', reason: 'MALFORMED_BASE45', offline: true }),
      expect.objectContaining({ verdict: 'deny', reason: 'MALFORMED_PREFIX', offline: true }),
    ]);
    expect(badLines().at(-1)).toMatchObject({ message: 'not text (control bytes or invalid UTF-8)' });

    // Unplugged while sending a code, and plugged back in: the same command reads on, nothing restarted.
    await pty.type(`${health.issueHealthCode({ subject: 'p-4', colour: 'green' })}\rCHC1:HALF-A-CO`);
    await vi.waitFor(() => expect(verdicts()).toHaveLength(6), WAIT);
    await pty.unplug();
    // The piece of a code it was sending is reported, never verified as a code.
    await vi.waitFor(() => expect(badLines().at(-1)).toMatchObject({ message: 'cut off: the input ended inside the line' }), WAIT);
    await pty.plug();
    await untilListening();
    await pty.type(`${health.issueHealthCode({ subject: 'p-5', colour: 'green' })}\r`);
    await vi.waitFor(() => expect(verdicts()).toHaveLength(7), WAIT);
    expect(verdicts().slice(5)).toEqual([
      expect.objectContaining({ verdict: 'allow', reason: 'OK', offline: true }),
      expect.objectContaining({ verdict: 'allow', reason: 'OK', offline: true }),
    ]);

    await shutdown.run(); // what SIGTERM does
    await command;
  });

  it('refuses bad framing options, all at once, as a usage error', async () => {
    const attempt = scanCommand(
      ['--scanner', 'gate-serial', '--trust', join(dir, 'trust.json'), '--data', join(dir, 'bad'), '--serial', pty.device, '--baud', '9601', '--parity', 'mark', '--stop-bits', '1.5'],
      new PassThrough(),
      createShutdown(),
      new PassThrough(),
    );
    await expect(attempt).rejects.toMatchObject({ code: 'CLI_ERR_USAGE', message: expect.stringMatching(/baudRate.*stopBits.*parity/s) as string });
    await expect(
      scanCommand(['--scanner', 'g', '--trust', 't', '--serial', pty.device, '--flow', 'dtr'], new PassThrough(), createShutdown(), new PassThrough()),
    ).rejects.toMatchObject({ code: 'CLI_ERR_USAGE', message: expect.stringMatching(/--flow must be none, rtscts or xonxoff/) as string });
  });
});
