import { defineErrors } from '@cityops/protocol';

export const cliErrors = defineErrors({
  CLI_ERR_USAGE: { message: 'Invalid command line', statusCode: 2 },
  CLI_ERR_API: { message: 'The cityops API refused the request', statusCode: 1 },
  CLI_ERR_STOP_DEADLINE: { message: 'Stopping did not finish within the stop deadline; exiting with work left undone', statusCode: 1 },
  CLI_ERR_CHECK_FAILED: { message: 'The gateway check found problems; nothing was published', statusCode: 1 },
  CLI_ERR_TOKENS_FILE: { message: 'The tokens file was not applied; the previous tokens stay in force', statusCode: 1 },
});
