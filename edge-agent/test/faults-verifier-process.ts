import { createVerifierService, type VerifierConfigInput } from '@cityops/verifier';
import { openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';

// A verifier with its audit trail in an embedded warehouse, in a process of its own, for tests that
// SIGKILL it. argv[2]: the verifier config as JSON; argv[3]: the chDB path. Prints one JSON line
// {"ready": true, "httpUrl"} once it serves; SIGTERM stops it cleanly (the audit is flushed).
const config = JSON.parse(process.argv[2] ?? '{}') as VerifierConfigInput;
const warehouse = await openWarehouse({ backend: 'chdb', path: process.argv[3] ?? 'warehouse' });
const service = createVerifierService(config, { warehouse, logger: pino({ level: 'silent' }) });
const { httpUrl } = await service.start();
process.stdout.write(`${JSON.stringify({ ready: true, httpUrl })}\n`);
process.on('SIGTERM', () => {
  void service
    .stop()
    .then(() => warehouse.close())
    .then(() => process.exit(0));
});
