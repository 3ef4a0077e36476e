import { spawn, spawnSync } from 'node:child_process';

export interface PromtoolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The promtool binary (Debian's `prometheus` package); fails with what to do when it is missing. */
export function requirePromtool(): string {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error("promtool not found on PATH: run `bash scripts/install-peers.sh` (installs Debian's prometheus package)");
  }
  return path;
}

/** Runs promtool with `args`, writing `stdin` to it when given. */
export function promtool(args: readonly string[], stdin?: string): Promise<PromtoolResult> {
  const bin = requirePromtool();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}
