import { fstatSync } from 'node:fs';

/** What pino writes to: one serialised JSON line per call. */
export interface LineSink {
  write(line: string): unknown;
}

/**
 * sd-daemon(3) priorities for pino levels: a line starting with `<N>` is logged by journald at
 * priority N (SyslogLevelPrefix=, on by default) and the prefix is stripped. fatal and error are
 * err (3), warn is warning (4), info is info (6), debug and trace are debug (7).
 */
export function journalPriority(pinoLevel: number): number {
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

// pino writes "level" first: `{"level":30,...`. A line without it (none from pino) is info.
const LEVEL = /^\{"level":(\d{1,3})[,}]/;

/** Prefixes each line with its journald priority; the line itself stays one JSON object. */
export function journaldSink(out: LineSink): LineSink {
  return {
    write(line: string) {
      const level = Number(LEVEL.exec(line)?.[1] ?? 30);
      return out.write(`<${journalPriority(level)}>${line}`);
    },
  };
}

/**
 * Whether stderr is connected to the journal: systemd sets JOURNAL_STREAM to the device and inode
 * of the stream it gave the service (systemd.exec(5), "$JOURNAL_STREAM"), and a process should
 * only trust it when its stderr is still that stream (a child with stderr redirected inherits the
 * variable but not the stream).
 */
export function stderrIsJournal(env: Readonly<Record<string, string | undefined>>, fd = 2): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (match === null) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

/** Where the gateway logs: stderr, prefixed with priorities when stderr is the journal. */
export function gatewayLogSink(env: Readonly<Record<string, string | undefined>>, stderr: LineSink = process.stderr): LineSink {
  return stderrIsJournal(env) ? journaldSink(stderr) : stderr;
}
