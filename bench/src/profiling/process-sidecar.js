// Preloaded (NODE_OPTIONS=--import) into every Node process a profiled bench scenario starts, so
// that each CPU profile (named by pid) can be told apart afterwards: which command, what role.
// Plain JavaScript: it must load in any Node process, with or without the tsx loader.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.CITYOPS_CPU_PROF_DIR;
if (isMainThread && dir !== undefined && dir !== '') {
  const sidecar = {
    pid: process.pid,
    ppid: process.ppid,
    argv: process.argv.map((a) => a.slice(0, 200)),
    execArgv: process.execArgv.map((a) => a.slice(0, 200)),
    role: process.env.CITYOPS_PROFILE_ROLE,
    startedAt: new Date().toISOString(),
  };
  try {
    writeFileSync(join(dir, `${process.pid}.process.json`), `${JSON.stringify(sidecar)}\n`);
  } catch {
    // A missing directory loses a label, never the process under test.
  }
  // The whole process's CPU (every thread, native ones such as chDB's engine too, which no
  // .cpuprofile holds): the report sets the profiled threads against it.
  process.on('exit', () => {
    const { user, system } = process.cpuUsage();
    try {
      writeFileSync(join(dir, `${process.pid}.exit.json`), `${JSON.stringify({ pid: process.pid, cpuMs: (user + system) / 1000, threads: threadCpu() })}\n`);
    } catch {
      // as above
    }
  });
  // --cpu-prof writes its profile only on a normal exit: a process that would die of SIGTERM or
  // SIGINT by default (no handler of its own) exits instead, so the bench's stop still yields its
  // profile. A process with its own handler is left to it (this one then does nothing).
  for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2]]) {
    process.on(signal, () => {
      if (process.listenerCount(signal) === 1) process.exit(128 + number);
    });
  }
}

/**
 * CPU ms per thread name from /proc/self/task (Linux; {} elsewhere): which native threads took what
 * the profiles cannot show (ClickHouse's pools by their names, V8's helpers, libuv's workers).
 * proc(5): utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
 */
function threadCpu() {
  const byName = {};
  let tasks = [];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return byName;
  }
  for (const tid of tasks.slice(0, 2000)) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // The main thread (tid = pid) apart: the others keep the process's name unless they set one.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[\d:/_-]+$/, '') || '?';
      const name = tid === String(process.pid) ? 'main thread' : comm;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName[name] = (byName[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // a thread that ended meanwhile
    }
  }
  return byName;
}
