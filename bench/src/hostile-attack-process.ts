import { createAttack, type Attack } from './hostile-attacks.ts';
import { createSensorFloodAttack } from './sensor-flood-attack.ts';
import type { AttackCommand, AttackMessage, AttackProcessConfig } from './hostile-attack-messages.ts';

// The hostile bench's attacker as its own process (forked, and lowered in priority, by
// hostile-attack-client.ts): its sockets, CPU and memory are its own, so the gateway's process and
// the broker see only what reaches the broker over the wire. One attack at a time, started and
// stopped over the IPC channel.
const config = JSON.parse(process.argv[2] ?? '{}') as AttackProcessConfig;
const send = (message: AttackMessage) => process.send?.(message);
let current: Attack | undefined;

process.on('message', (raw) => {
  const command = raw as AttackCommand;
  if (command.type === 'start') {
    if (current !== undefined) return void send({ type: 'error', message: 'an attack is already running; stop it first' });
    const spec = command.spec;
    current = spec.kind === 'sensor_flood' ? createSensorFloodAttack(config, spec) : createAttack(config, spec);
    current.start();
    send({ type: 'started' });
  } else if (command.type === 'stop') {
    const attack = current;
    current = undefined;
    if (attack === undefined) return void send({ type: 'error', message: 'no attack is running' });
    attack.stop().then(
      (stats) => send({ type: 'stopped', stats }),
      (err: unknown) => send({ type: 'error', message: String(err) }),
    );
  }
});
// The bench went away: so does the attacker.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
