export interface PresentationGateStats {
  /** Codes let through: new presentations. */
  presentations: number;
  /** Sightings of a code still being shown: not checked again. */
  duplicates: number;
  /** Codes forgotten early because maxTracked were being tracked. */
  evicted: number;
}

export interface PresentationGate {
  /** The codes of one frame; returns those presented anew (to be checked), in the frame's order. */
  admit(codes: readonly string[]): string[];
  stats(): PresentationGateStats;
}

/**
 * One check per presentation: a code held in front of the camera is seen in frame after frame;
 * it is checked when first seen, and again only once it was out of sight for `absentGapMs` (put
 * away and shown again). Time-based, not frame-based, so dropped frames change nothing. At most
 * `maxTracked` codes are remembered (least recently seen forgotten first, counted).
 */
export function createPresentationGate(config: { readonly absentGapMs: number; readonly maxTracked: number }, deps: { readonly now?: () => number } = {}): PresentationGate {
  const now = deps.now ?? Date.now;
  // Insertion order = order of last sighting: the first key is the least recently seen.
  const lastSeen = new Map<string, number>();
  const stats: PresentationGateStats = { presentations: 0, duplicates: 0, evicted: 0 };

  function forgetAbsent(at: number): void {
    for (const [code, seen] of lastSeen) {
      if (at - seen <= config.absentGapMs) break;
      lastSeen.delete(code);
    }
  }

  return {
    admit(codes) {
      const at = now();
      forgetAbsent(at);
      const fresh: string[] = [];
      for (const code of new Set(codes)) {
        if (lastSeen.has(code)) {
          stats.duplicates++;
          lastSeen.delete(code);
        } else {
          stats.presentations++;
          fresh.push(code);
        }
        lastSeen.set(code, at);
        if (lastSeen.size > config.maxTracked) {
          lastSeen.delete(lastSeen.keys().next().value!);
          stats.evicted++;
        }
      }
      return fresh;
    },
    stats: () => ({ ...stats }),
  };
}
