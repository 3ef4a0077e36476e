#!/usr/bin/env node
import { isCityopsError } from '@cityops/protocol';
import { cliErrors } from './cli-errors.ts';
import { createShutdown, type Shutdown } from './shutdown.ts';
import { stopDeadlineUsage, takeStopDeadline } from './stop-deadline-option.ts';

type Command = (argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown) => Promise<void>;

interface CommandModule {
  readonly run: Command;
  readonly usage: string;
}

/**
 * Each command's module is loaded only when it runs: `cityops gateway` on a small device must not
 * load chDB, the verifier and analytics (the CLI measured ~300 MiB RSS when every command was
 * imported up front). Commands that keep running until a signal are long-running; the others
 * finish and exit.
 */
const COMMANDS: Record<string, { readonly load: () => Promise<CommandModule>; readonly longRunning: boolean }> = {
  up: { load: async () => import('./commands/up.ts').then((m) => ({ run: m.upCommand, usage: m.upUsage })), longRunning: true },
  ingest: { load: async () => import('./commands/ingest.ts').then((m) => ({ run: m.ingestCommand, usage: m.ingestUsage })), longRunning: true },
  verifier: { load: async () => import('./commands/verifier.ts').then((m) => ({ run: m.verifierCommand, usage: m.verifierUsage })), longRunning: true },
  analytics: { load: async () => import('./commands/analytics.ts').then((m) => ({ run: m.analyticsCommand, usage: m.analyticsUsage })), longRunning: true },
  simulate: { load: async () => import('./commands/simulate.ts').then((m) => ({ run: m.simulateCommand, usage: m.simulateUsage })), longRunning: true },
  gateway: { load: async () => import('./commands/gateway.ts').then((m) => ({ run: (a, o, s) => m.gatewayCommand(a, o, s), usage: m.gatewayUsage })), longRunning: false },
  device: { load: async () => import('./commands/device.ts').then((m) => ({ run: m.deviceCommand, usage: m.deviceUsage })), longRunning: false },
  codes: { load: async () => import('./commands/codes.ts').then((m) => ({ run: m.codesCommand, usage: m.codesUsage })), longRunning: false },
  certs: { load: async () => import('./commands/certs.ts').then((m) => ({ run: (a, o) => m.certsCommand(a, o), usage: m.certsUsage })), longRunning: false },
  scan: { load: async () => import('./commands/scan.ts').then((m) => ({ run: (a, o, s) => m.scanCommand(a, o, s), usage: m.scanUsage })), longRunning: false },
  verify: { load: async () => import('./commands/verify.ts').then((m) => ({ run: (a, o) => m.verifyCommand(a, o), usage: m.verifyUsage })), longRunning: false },
  token: { load: async () => import('./commands/token.ts').then((m) => ({ run: (a, o) => m.tokenCommand(a, o), usage: m.tokenUsage })), longRunning: false },
};

async function usage(): Promise<string> {
  const modules = await Promise.all(Object.values(COMMANDS).map((c) => c.load()));
  return `cityops <command>\n\n${stopDeadlineUsage}\n\n${modules.map((m) => m.usage).join('\n\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const entry = name === undefined ? undefined : COMMANDS[name];
  if (entry === undefined) {
    process.stderr.write(await usage());
    return name === undefined || name === 'help' || name === '--help' ? 0 : 2;
  }
  const command = await entry.load();
  const shutdown = createShutdown();
  let rest: string[];
  let deadlineMs: number;
  try {
    ({ argv: rest, deadlineMs } = takeStopDeadline(args, process.env));
  } catch (err) {
    process.stderr.write(`${isCityopsError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n\n${stopDeadlineUsage}\n`);
    return 2;
  }
  // Issue 17: a stop never holds the process. The first signal stops in order, within deadlineMs; a
  // second one (the operator's Ctrl-C again, or a supervisor's SIGTERM after SIGINT) exits at once.
  let stopping = false;
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    if (stopping) {
      const step = shutdown.current();
      process.stderr.write(`${signal} again: exiting at once${step === undefined ? '' : ` (was stopping: ${step})`}\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopping = true;
    process.stderr.write(`\n${signal}: stopping… (at most ${deadlineMs} ms; ${signal} again exits at once)\n`);
    shutdown.runWithin(deadlineMs).then(
      (outcome) => {
        if (outcome.finished) process.exit(0);
        const err = cliErrors.CLI_ERR_STOP_DEADLINE(`${deadlineMs} ms passed; still running: ${outcome.step} (${outcome.left} step(s) not finished)`);
        process.stderr.write(`${err.code}: ${err.message}\n`);
        process.exit(1);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
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
  if (!entry.longRunning) {
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
