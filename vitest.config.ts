import { defineConfig } from 'vitest/config';

// Tests that kill and restart whole `cityops` processes many times over (each start loads chDB):
// beside the rest of the suite on 2 cores a start took 20 s instead of 2, so they run last, one
// at a time, with the machine to themselves.
const ALONE = ['ingest/test/ingest-cluster-kill-rounds.test.ts'];

export default defineConfig({
  test: {
    // chDB segfaults when loaded in a worker thread: tests run in forked processes only.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'suite', include: ['*/test/**/*.test.ts'], exclude: ALONE } },
      { extends: true, test: { name: 'alone', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
