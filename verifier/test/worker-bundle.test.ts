import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleVerifyWorker } from '../src/worker-bundle.ts';
import { poolExecArgv } from '../src/worker-exec-argv.ts';

describe('pool thread bundle (issue 20)', () => {
  it('is one JavaScript file with no TypeScript import and no warehouse, removed once by remove()', async () => {
    const bundle = await bundleVerifyWorker();
    try {
      const text = readFileSync(bundle.file, 'utf8');
      expect(text).toMatch(/export\s*\{[^}]*verifyBatch/);
      expect(text).not.toMatch(/from\s*["'][^"']+\.ts["']/);
      expect(text).not.toMatch(/chdb|@clickhouse|@cityops\/warehouse/);
    } finally {
      await bundle.remove();
      await bundle.remove();
    }
    expect(existsSync(bundle.file)).toBe(false);
    expect(existsSync(dirname(bundle.file))).toBe(false);
  }, 60_000);

  it('runs threads without tsx loaders but keeps every other flag', () => {
    expect(poolExecArgv(['--import', 'tsx', '--cpu-prof', '--cpu-prof-dir=/tmp/p'])).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
    expect(poolExecArgv(['--import=tsx', '--require', 'tsx/cjs', '--loader', 'file:///x/node_modules/tsx/dist/loader.mjs', '--enable-source-maps'])).toEqual([
      '--enable-source-maps',
    ]);
    expect(poolExecArgv(['--import', './other.mjs', '--max-old-space-size=512'])).toEqual(['--import', './other.mjs', '--max-old-space-size=512']);
    expect(poolExecArgv(['--import'])).toEqual(['--import']);
  });
});
