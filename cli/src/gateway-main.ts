/**
 * The entry point of the gateway's single-file build (`npm run build:gateway`, see
 * gateway-bundle.ts): `cityops gateway` alone, with the CLI's signal handling and exit codes, so a
 * field gateway runs one bundled file under plain `node`, without tsx and without the other
 * commands. Same flags as `cityops gateway`.
 */
import { isCityopsError } from '@cityops/protocol';
import { gatewayCommand, gatewayUsage } from './commands/gateway.ts';
import { createShutdown } from './shutdown.ts';

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'help' || argv[0] === '--help') {
    process.stdout.write(`${gatewayUsage}\n`);
    return 0;
  }
  const shutdown = createShutdown();
  const stop = (signal: string) => {
    process.stderr.write(`\n${signal}: stopping…\n`);
    shutdown.run().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  try {
    await gatewayCommand(argv, process.stdout, shutdown);
  } catch (err) {
    await shutdown.run();
    if (isCityopsError(err)) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return err.code === 'CLI_ERR_USAGE' ? 2 : 1;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`${(err as Error).message}\n\n${gatewayUsage}\n`);
      return 2;
    }
    throw err;
  }
  await shutdown.run();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
