import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface SocketFlood {
  /** Sockets that have received `watchFor` so far. */
  matches(): Promise<number>;
  /** Ends the flood: its process and every socket it holds. */
  stop(): Promise<void>;
}

export interface SocketFloodOptions {
  readonly port: number;
  /** The attacker's address (Linux routes all of 127/8 to lo: each its own client address). */
  readonly localAddress: string;
  readonly count: number;
  /** Written on each socket once connected; absent: the sockets stay silent (idle). */
  readonly request?: string;
  /** Counted per socket the first time it arrives (`matches`). */
  readonly watchFor?: string;
}

// The flood in plain CommonJS for `node -e`: its sockets, their buffers and their garbage are that
// process's, so a test's RSS bound measures the server beside it, not the attacker.
const SCRIPT = `
const net = require('node:net');
const options = JSON.parse(process.argv[1]);
let matches = 0;
const open = () => new Promise((done) => {
  const socket = net.connect({ host: '127.0.0.1', port: options.port, localAddress: options.localAddress });
  let text = options.watchFor === undefined ? null : '';
  socket.on('error', () => undefined);
  socket.once('connect', () => { if (options.request !== undefined) socket.write(options.request); done(); });
  socket.once('close', done);
  socket.on('data', (chunk) => {
    if (text === null) return;
    text += chunk.toString('latin1');
    if (text.includes(options.watchFor)) { matches++; text = null; }
  });
});
(async () => {
  // In waves of 250, so the listen backlog (511) does not turn the flood into SYN retransmissions.
  for (let left = options.count; left > 0; left -= 250) await Promise.all(Array.from({ length: Math.min(250, left) }, open));
  process.stdout.write('opened\\n');
})();
process.stdin.on('data', () => process.stdout.write(matches + '\\n'));
`;

/**
 * `count` sockets to `port` from `localAddress`, opened by a child process; resolves once each has
 * connected or been closed by the server.
 */
export async function startSocketFlood(options: SocketFloodOptions): Promise<SocketFlood> {
  const child = spawn(process.execPath, ['-e', SCRIPT, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  exited.catch(() => undefined);
  const lines = createInterface({ input: child.stdout });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      void exited.then(() => reject(new Error('the flood process exited')));
    });
  const opened = await next();
  if (opened !== 'opened') throw new Error(`unexpected line from the flood process: ${opened}`);
  return {
    async matches() {
      const answer = next();
      child.stdin.write('?\n');
      return Number(await answer);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
