import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago, for peers (clickhouse-server, mosquitto) that cannot be told
 * to listen on port 0. Our own servers listen on port 0 and report the port they got.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no port'));
        else resolve(address.port);
      });
    });
  });
}
