import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';

/**
 * A real peer from Debian's packages (scripts/install-peers.sh installs them all): where its program
 * is, and for a Python module the import that proves it is there.
 */
export interface DebianPeer {
  readonly name: string;
  /** The Debian package that provides it. */
  readonly package: string;
  /** The program, by absolute path (a pyenv or venv python on PATH would not have Debian's modules). */
  readonly path: string;
  /** Arguments that exit 0 only when the peer works (a Python module's import); default: none run. */
  readonly probe?: readonly string[];
}

export const MOSQUITTO: DebianPeer = { name: 'mosquitto', package: 'mosquitto', path: '/usr/sbin/mosquitto' };
export const REDIS_SERVER: DebianPeer = { name: 'redis-server', package: 'redis-server', path: '/usr/bin/redis-server' };
export const ZBARIMG: DebianPeer = { name: 'zbarimg', package: 'zbar-tools', path: '/usr/bin/zbarimg' };
export const PYMODBUS: DebianPeer = { name: 'pymodbus', package: 'python3-pymodbus', path: '/usr/bin/python3', probe: ['-c', 'import pymodbus'] };

async function present(peer: DebianPeer): Promise<boolean> {
  try {
    await access(peer.path, constants.X_OK);
  } catch {
    return false;
  }
  const probe = peer.probe;
  if (probe === undefined) return true;
  return new Promise((resolve) => {
    execFile(peer.path, [...probe], { timeout: 30_000 }, (err) => resolve(err === null));
  });
}

/** The peers (each named once) that are not installed here, in the order given. */
export async function missingPeers(peers: readonly DebianPeer[]): Promise<DebianPeer[]> {
  const unique = [...new Map(peers.map((p) => [p.name, p])).values()];
  const found = await Promise.all(unique.map(present));
  return unique.filter((_, i) => !found[i]);
}
