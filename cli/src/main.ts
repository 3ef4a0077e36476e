#!/usr/bin/env node
import { isCityopsError } from '@cityops/protocol';
import { cliErrors } from './cli-errors.ts';
import { createShutdown } from './shutdown.ts';
import { stopDeadlineUsage, takeStopDeadline } from './stop-deadline-option.ts';
import { COMMANDS } from './command-table.ts';
import { asksForHelp, failureLine, usageErrorLine } from './usage-line.ts';

async function usage(): Promise<string> {
  const modules = await Promise.all(Object.values(COMMANDS).map((c) => c.load()));
  return `cityops <command>\n\n${stopDeadlineUsage}\n\n${modules.map((m) => m.usage).join('\n\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || (name === 'help' && args[0] === undefined)) {
    process.stdout.write(await usage());
    return 0;
  }
  // `cityops help up` is `cityops up --help`.
  const helpFor = name === 'help' ? args[0] : undefined;
  // hasOwn: `cityops constructor` must not find Object.prototype's.
  const entry = Object.hasOwn(COMMANDS, helpFor ?? name) ? COMMANDS[helpFor ?? name] : undefined;
  if (entry === undefined) {
    const what = helpFor ?? name;
    process.stderr.write(`cityops: ${what.startsWith('-') ? 'unknown option' : 'unknown command'} ${JSON.stringify(what.slice(0, 100))} (cityops --help lists the commands: ${Object.keys(COMMANDS).join(', ')})\n`);
    return 2;
  }
  const command = await entry.load();
  if (helpFor !== undefined || asksForHelp(args)) {
    process.stdout.write(`${command.usage}\n\n${stopDeadlineUsage}\n`);
    return 0;
  }
  const shutdown = createShutdown();
  let rest: string[];
  let deadlineMs: number;
  try {
    ({ argv: rest, deadlineMs } = takeStopDeadline(args, process.env));
  } catch (err) {
    process.stderr.write(usageErrorLine(name, err) ?? failureLine(name, err, process.env));
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
    const misuse = usageErrorLine(name, err);
    if (misuse !== undefined) {
      process.stderr.write(misuse);
      return 2;
    }
    // A coded error says what to do in its message (a config's problems come together, a line each).
    process.stderr.write(isCityopsError(err) ? `${err.code}: ${err.message}\n` : failureLine(name, err, process.env));
    return 1;
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
    process.stderr.write(failureLine(process.argv[2] ?? '', err, process.env));
    process.exit(1);
  },
);
