import { pino } from 'pino';
import { createVerifierService } from '../src/verifier-service.ts';
import type { VerifierConfigInput } from '../src/verifier-config.ts';

// A verifier in a process of its own, for tests that kill it (SIGKILL: no DISCONNECT, the broker
// publishes its will). Config as JSON in argv[2]; prints "ready" once started.
const config = JSON.parse(process.argv[2] ?? '{}') as VerifierConfigInput;
const service = createVerifierService(config, { logger: pino({ level: 'silent' }) });
await service.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void service.stop().then(() => process.exit(0)));
