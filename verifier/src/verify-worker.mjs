// Piscina's entry for a pool thread. tsx registers its ESM hooks on the thread that calls
// register(), so each worker registers them itself before importing the TypeScript worker
// (`--import tsx` in execArgv is not enough on Node 20: "Unknown file extension .ts").
import { register } from 'tsx/esm/api';

register();
const worker = await import('./verify-worker.ts');

export default worker.verifyBatch;
