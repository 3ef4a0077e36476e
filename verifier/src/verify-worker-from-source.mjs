// Piscina's entry for a pool thread running the TypeScript sources, used only while the process
// writes CPU profiles (verify-pool.ts: the bundle is one file, so a profile could not tell our
// packages apart). tsx registers its ESM hooks on the thread that calls register(), so each worker
// registers them itself before importing the worker (`--import tsx` in execArgv is not enough on
// Node 20: "Unknown file extension .ts").
import { register } from 'tsx/esm/api';

register();
const worker = await import('./verify-worker.ts');

export const verifyBatch = worker.verifyBatch;
