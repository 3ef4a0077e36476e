import { isCityopsError } from '@cityops/protocol';

/** `--help` or `-h` before a `--` (after it, they are positionals the command was given). */
export function asksForHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/**
 * The one line a misused command prints (issue 19: a bad option gives one line and exit code 2,
 * never a stack trace), or undefined when `err` is not a usage error. Usage errors are ours
 * (CLI_ERR_USAGE, whose message may carry the usage after a blank line: the first line is the
 * problem) and node:util parseArgs' (ERR_PARSE_ARGS_*: unknown option, missing value, ...).
 */
export function usageErrorLine(command: string, err: unknown): string | undefined {
  let problem: string;
  if (isCityopsError(err, 'CLI_ERR_USAGE')) problem = `${err.code}: ${err.message}`;
  else if ((err as { code?: unknown } | null)?.code?.toString().startsWith('ERR_PARSE_ARGS') === true) problem = (err as Error).message;
  else return undefined;
  const first = problem.split('\n').find((line) => line.trim() !== '') ?? problem;
  return `cityops ${command}: ${first.trim().slice(0, 300)} (cityops ${command} --help shows the usage)\n`;
}

/** One line for an error that is not a usage error; the stack only when asked for (CITYOPS_DEBUG=1). */
export function failureLine(command: string, err: unknown, env: NodeJS.ProcessEnv): string {
  if (env.CITYOPS_DEBUG === '1' && err instanceof Error && err.stack !== undefined) return `${err.stack}\n`;
  const text = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const first = text.split('\n').find((line) => line.trim() !== '') ?? text;
  return `cityops ${command}: ${typeof code === 'string' ? `${code}: ` : ''}${first.trim().slice(0, 500)} (CITYOPS_DEBUG=1 prints the stack)\n`;
}
