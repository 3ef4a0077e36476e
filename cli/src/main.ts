#!/usr/bin/env node
import { isCityopsError } from '@cityops/protocol';
import { analyticsCommand, analyticsUsage } from './commands/analytics.ts';
import { certsCommand, certsUsage } from './commands/certs.ts';
import { codesCommand, codesUsage } from './commands/codes.ts';
import { deviceCommand, deviceUsage } from './commands/device.ts';
import { gatewayCommand, gatewayUsage } from './commands/gateway.ts';
import { ingestCommand, ingestUsage } from './commands/ingest.ts';
import { scanCommand, scanUsage } from './commands/scan.ts';
import { simulateCommand, simulateUsage } from './commands/simulate.ts';
import { tokenCommand, tokenUsage } from './commands/token.ts';
import { upCommand, upUsage } from './commands/up.ts';
import { verifierCommand, verifierUsage } from './commands/verifier.ts';
import { verifyCommand, verifyUsage } from './commands/verify.ts';
import { createShutdown, type Shutdown } from './shutdown.ts';

type Command = (argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown) => Promise<void>;

/** Commands that keep running until a signal; the others finish and exit. */
const COMMANDS: Record<string, { run: Command; usage: string; longRunning: boolean }> = {
  up: { run: upCommand, usage: upUsage, longRunning: true },
  ingest: { run: ingestCommand, usage: ingestUsage, longRunning: true },
  verifier: { run: verifierCommand, usage: verifierUsage, longRunning: true },
  analytics: { run: analyticsCommand, usage: analyticsUsage, longRunning: true },
  simulate: { run: simulateCommand, usage: simulateUsage, longRunning: true },
  gateway: { run: (argv, out, shutdown) => gatewayCommand(argv, out, shutdown), usage: gatewayUsage, longRunning: false },
  device: { run: deviceCommand, usage: deviceUsage, longRunning: false },
  codes: { run: codesCommand, usage: codesUsage, longRunning: false },
  certs: { run: (argv, out) => certsCommand(argv, out), usage: certsUsage, longRunning: false },
  scan: { run: (argv, out, shutdown) => scanCommand(argv, out, shutdown), usage: scanUsage, longRunning: false },
  verify: { run: (argv, out) => verifyCommand(argv, out), usage: verifyUsage, longRunning: false },
  token: { run: (argv, out) => tokenCommand(argv, out), usage: tokenUsage, longRunning: false },
};

function usage(): string {
  return `cityops <command>\n\n${Object.values(COMMANDS)
    .map((c) => c.usage)
    .join('\n\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(usage());
    return name === undefined || name === 'help' || name === '--help' ? 0 : 2;
  }
  const shutdown = createShutdown();
  const stop = (signal: string) => {
    process.stderr.write(`\n${signal}: stopping…\n`);
    shutdown.run().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  try {
    await command.run(rest, process.stdout, shutdown);
  } catch (err) {
    await shutdown.run();
    if (isCityopsError(err)) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return err.code === 'CLI_ERR_USAGE' ? 2 : 1;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`${(err as Error).message}\n\n${command.usage}\n`);
      return 2;
    }
    throw err;
  }
  if (!command.longRunning) {
    await shutdown.run();
    return 0;
  }
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
