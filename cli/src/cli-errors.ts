import { defineErrors } from '@cityops/protocol';

export const cliErrors = defineErrors({
  CLI_ERR_USAGE: { message: 'Invalid command line', statusCode: 2 },
  CLI_ERR_API: { message: 'The cityops API refused the request', statusCode: 1 },
  CLI_ERR_TOKENS_FILE: { message: 'The tokens file was not applied; the previous tokens stay in force', statusCode: 1 },
});
