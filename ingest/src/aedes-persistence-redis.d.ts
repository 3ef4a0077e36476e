// aedes-persistence-redis ships no types. Only what cluster-routing.ts uses is declared; aedes
// itself types `persistence` as `any`.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis';

  interface AedesPersistenceRedisOptions {
    /** A connection the caller owns (and closes). */
    readonly conn?: Redis;
    /** Queued messages delivered to a persistent session when it connects (default 1000). */
    readonly maxSessionDelivery?: number;
    /** Seconds a queued offline packet lives in Redis; 0 keeps it until delivered. */
    readonly packetTTL?: (packet: unknown) => number;
  }

  interface AedesPersistenceRedis {
    setup(broker: unknown): Promise<void>;
  }

  function aedesPersistenceRedis(options?: AedesPersistenceRedisOptions): AedesPersistenceRedis;
  export = aedesPersistenceRedis;
}
