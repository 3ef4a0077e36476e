import { readCredentialsFile } from '@cityops/simulators';
import { createAckedPublisher } from './acked-publisher.ts';
import type { LoadCommand, LoadMessage, LoadProcessConfig } from './soak-load-messages.ts';

// The soak's load generator as its own process (forked by soak-load-client.ts): its CPU and memory are
// its own, and the bench process stays a light observer. Commands and reports travel over the IPC channel.
const config = JSON.parse(process.argv[2] ?? '{}') as LoadProcessConfig;
const devices = await readCredentialsFile(config.credentials);
const publisher = createAckedPublisher({ brokerUrl: config.brokerUrl, devices, readingsPerBatch: config.batch, inflight: config.inflight });
const send = (message: LoadMessage) => process.send?.(message);

process.on('message', (raw) => {
  const command = raw as LoadCommand;
  if (command.type === 'rate') publisher.setRate(command.readingsPerSecond);
  else if (command.type === 'sample') {
    const m = process.memoryUsage();
    send({ type: 'sample', stats: publisher.stats(), puback: publisher.takeInterval(), rssBytes: m.rss, heapUsedBytes: m.heapUsed });
  } else if (command.type === 'stop') {
    publisher.stop().then(
      () => {
        send({ type: 'ledger', stats: publisher.stats(), puback: publisher.total(), devices: publisher.ledger() });
        process.disconnect?.();
      },
      (err: unknown) => send({ type: 'error', message: String(err) }),
    );
  }
});

await publisher.start();
send({ type: 'ready' });
