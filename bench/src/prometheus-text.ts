/** The value of one sample in Prometheus text exposition (the sum over its label sets). */
export function metricValue(text: string, name: string): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      sum += value;
      found = true;
    }
  }
  if (!found) throw new Error(`metric ${name} not found`);
  return sum;
}

/** As `metricValue`, but 0 for a sample not (yet) exposed: a counter appears only once incremented. */
export function metricOrZero(text: string, name: string): number {
  try {
    return metricValue(text, name);
  } catch {
    return 0;
  }
}

/** A counter's samples by the value of one label (`reason`, `state`, ...): the label sets it has exposed. */
export function metricByLabel(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  const pattern = new RegExp(`^${name}\\{(?:[^}]*,)?${label}="([^"]*)"[^}]*\\} (\\S+)$`);
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (m !== null) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

export async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`scrape ${url}: ${response.status}`);
  return response.text();
}

/** A histogram's cumulative buckets (`le` in the metric's unit, +Inf last), summed over label sets. */
export function histogramBuckets(text: string, name: string): { le: number; count: number }[] {
  const byLe = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    byLe.set(bound, (byLe.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * The upper bound of the bucket holding quantile `q` of the observations made between two scrapes
 * of the same histogram (NaN when none were made): "p99 ≤ this".
 */
export function bucketQuantileBound(before: readonly { le: number; count: number }[], after: readonly { le: number; count: number }[], q: number): number {
  const delta = after.map((b) => ({ le: b.le, count: b.count - (before.find((x) => x.le === b.le)?.count ?? 0) }));
  const total = delta[delta.length - 1]?.count ?? 0;
  if (total <= 0) return Number.NaN;
  return delta.find((b) => b.count >= q * total)?.le ?? Number.NaN;
}
