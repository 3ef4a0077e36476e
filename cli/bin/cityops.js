#!/usr/bin/env node
// The installed `cityops` command (npx cityops, npm link, npm install -g): the CLI is TypeScript
// run through tsx, so this plain-JS shim finds the checkout from its own real path (npm links bins
// as symlinks; Node runs the target), works from any cwd, applies scripts/memory.env (its variables,
// and for `cityops ingest` CITYOPS_INGEST_NODE_FLAGS on node's command line) and loads
// cli/src/main.ts through tsx's loader.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const SHIM = fileURLToPath(import.meta.url);
const MAIN = new URL('../src/main.ts', import.meta.url);
const MEMORY_ENV = new URL('../../scripts/memory.env', import.meta.url);
// Set on the re-run, so that a variable the environment cannot hold never loops.
const RERUN = 'CITYOPS_BIN_RERUN';

/** scripts/memory.env's settings that the environment does not set already (as scripts/cityops.sh). */
function missingMemoryEnv() {
  const missing = {};
  for (const line of readFileSync(MEMORY_ENV, 'utf8').split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (match === null) continue;
    const [, key, value] = match;
    if ((process.env[key] ?? '') === '') missing[key] = value;
  }
  return missing;
}

/** For `cityops ingest`: CITYOPS_INGEST_NODE_FLAGS (the environment's, else memory.env's) this process was not started with. */
function missingNodeFlags(env) {
  if (process.argv[2] !== 'ingest') return [];
  const flags = (process.env.CITYOPS_INGEST_NODE_FLAGS || env.CITYOPS_INGEST_NODE_FLAGS || '').split(/\s+/).filter((f) => f !== '');
  return flags.filter((flag) => !process.execArgv.includes(flag));
}

async function runHere() {
  // tsx resolved from this file, not from the cwd: `--import tsx` would fail outside the checkout.
  const { register } = await import('tsx/esm/api');
  register();
  // process.argv stays [node, this shim, ...args]: main.ts reads from index 2.
  await import(MAIN.href);
}

/**
 * The allocator settings are read by glibc when a process starts, and V8's flags (CITYOPS_INGEST_NODE_FLAGS)
 * when its heap is set up, so they take a new process.
 * Node >= 22.15 replaces this one (process.execve: same pid, signals reach main.ts directly); on
 * Node 20 a child runs with them and this process relays SIGTERM and SIGHUP to it. SIGINT is not
 * relayed: Ctrl-C reaches the whole foreground process group, the child included, and a second
 * SIGINT would make main.ts exit at once instead of stopping in order.
 */
function rerun(env, nodeFlags) {
  const args = [...nodeFlags, ...process.execArgv, SHIM, ...process.argv.slice(2)];
  const fullEnv = { ...process.env, ...env, [RERUN]: '1' };
  if (typeof process.execve === 'function') process.execve(process.execPath, [process.execPath, ...args], fullEnv);
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: fullEnv });
  const relay = (signal) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  process.on('SIGTERM', relay('SIGTERM'));
  process.on('SIGHUP', relay('SIGHUP'));
  process.on('SIGINT', () => {});
  child.on('error', (err) => {
    process.stderr.write(`cityops: cannot start ${process.execPath}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // Die of the same signal, so that a shell or supervisor sees what the child saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}

const missing = process.env[RERUN] === '1' ? {} : missingMemoryEnv();
const nodeFlags = process.env[RERUN] === '1' ? [] : missingNodeFlags(missing);
if (Object.keys(missing).length === 0 && nodeFlags.length === 0) {
  await runHere();
} else {
  rerun(missing, nodeFlags);
}
