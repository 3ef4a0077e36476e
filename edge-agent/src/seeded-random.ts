/** A source of uniform numbers in [0, 1), like `Math.random`; injected so that runs can be replayed. */
export type Random = () => number;

/**
 * mulberry32: a small, fast 32-bit generator. Not for secrets; for simulations and jitter that a
 * test must be able to reproduce from a seed.
 */
export function createSeededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
