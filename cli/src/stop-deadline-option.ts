import { cliErrors } from './cli-errors.ts';

/** How long SIGINT/SIGTERM may take to stop a long-running command before it exits anyway. */
export const DEFAULT_STOP_DEADLINE_MS = 10_000;

export const stopDeadlineUsage = `Every command takes --stop-deadline-ms N (or CITYOPS_STOP_DEADLINE_MS; default ${DEFAULT_STOP_DEADLINE_MS}): after SIGINT or
SIGTERM, a stop still running after N ms is abandoned, the step it was in is named and the exit code is 1;
a second SIGINT or SIGTERM exits at once (130 or 143).`;

function parse(text: string, where: string): number {
  const ms = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(ms) || ms < 1) throw cliErrors.CLI_ERR_USAGE(`${where}: "${text}" is not a whole number of ms >= 1`);
  return ms;
}

/**
 * Takes `--stop-deadline-ms N` (or `--stop-deadline-ms=N`) out of a command's arguments, wherever it
 * stands: one option for every command, read before the command parses the rest. The flag wins
 * over `env` (CITYOPS_STOP_DEADLINE_MS).
 */
export function takeStopDeadline(argv: readonly string[], env: NodeJS.ProcessEnv): { readonly argv: string[]; readonly deadlineMs: number } {
  const rest: string[] = [];
  let flag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--stop-deadline-ms') {
      const value = argv[++i];
      if (value === undefined) throw cliErrors.CLI_ERR_USAGE('--stop-deadline-ms needs a number of ms');
      flag = value;
    } else if (arg.startsWith('--stop-deadline-ms=')) {
      flag = arg.slice('--stop-deadline-ms='.length);
    } else {
      rest.push(arg);
    }
  }
  if (flag !== undefined) return { argv: rest, deadlineMs: parse(flag, '--stop-deadline-ms') };
  const fromEnv = env.CITYOPS_STOP_DEADLINE_MS;
  return { argv: rest, deadlineMs: fromEnv === undefined || fromEnv === '' ? DEFAULT_STOP_DEADLINE_MS : parse(fromEnv, 'CITYOPS_STOP_DEADLINE_MS') };
}
