import { defineErrors } from '@cityops/protocol';

export const benchErrors = defineErrors({
  BENCH_ERR_USAGE: { message: 'Invalid command line', statusCode: 2 },
  BENCH_ERR_PEER_MISSING: { message: 'A real peer the chosen scenarios run against is not installed', statusCode: 2 },
  BENCH_ERR_SCENARIO_FAILED: { message: 'A scenario failed while measuring', statusCode: 1 },
  BENCH_ERR_PROFILE_INVALID: { message: 'Not a V8 CPU profile of a bench run', statusCode: 1 },
});
