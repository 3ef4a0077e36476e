import { defineErrors } from '@cityops/protocol';

export const benchErrors = defineErrors({
  BENCH_ERR_USAGE: { message: 'Invalid command line', statusCode: 2 },
});
