import { normalizeAddress } from './address-guard.ts';

export interface ConnectionCapsConfig {
  /** Open connections from one (normalized) address at most. */
  readonly maxPerAddress: number;
  /** Open connections over all addresses at most (exempt addresses included). */
  readonly maxTotal: number;
  /** Addresses the per-address cap leaves alone (a local proxy is everyone's address). */
  readonly exemptAddresses: readonly string[];
}

export type ConnectionRefusal = 'address_connections' | 'total_connections';

/** What is used of an accepted socket (net.Socket, or a test's stand-in). */
export interface CountedSocket {
  readonly remoteAddress?: string | undefined;
  on(event: 'close', listener: () => void): unknown;
}

export interface ConnectionCaps {
  /** Why a new connection from this address would be refused now, or undefined. */
  refusal(address: string): ConnectionRefusal | undefined;
  /** Counts an admitted socket until its 'close'. */
  count(socket: CountedSocket, address: string): void;
  open(): number;
  openFrom(address: string): number;
}

/**
 * Open connections counted per address and in total, at accept (before a byte is read), for the
 * broker's wire guard and the HTTP servers (http-server-limits.ts). Memory: one entry per address
 * with an open connection, so at most `maxTotal` entries.
 */
export function createConnectionCaps(config: ConnectionCapsConfig): ConnectionCaps {
  const perAddress = new Map<string, number>();
  const exempt = new Set(config.exemptAddresses.map((a) => normalizeAddress(a)));
  let total = 0;
  return {
    refusal(address) {
      if (!exempt.has(address) && (perAddress.get(address) ?? 0) >= config.maxPerAddress) return 'address_connections';
      return total >= config.maxTotal ? 'total_connections' : undefined;
    },
    count(socket, address) {
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      total++;
      // 'on', not 'once': 'close' comes once, and a once wrapper costs ~0.4 KiB of heap per socket held.
      socket.on('close', () => {
        total--;
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left === 0) perAddress.delete(address);
        else perAddress.set(address, left);
      });
    },
    open: () => total,
    openFrom: (address) => perAddress.get(address) ?? 0,
  };
}
