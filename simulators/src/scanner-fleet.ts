import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatPlace, type Place } from '@cityops/protocol';
import { createScannerAgent, createSeededRandom, systemTimers, type ScannerAgent, type ScannerAgentConfigInput, type ScanResult, type Timers } from '@cityops/edge-agent';
import type { Logger } from 'pino';
import { generateCity } from './city.ts';
import { summarizeLatencies } from './latency-summary.ts';
import { CODE_CLASSES, DEFAULT_CODE_MIX, type CodeClass, type CodeMix, type ScannerCodeMint } from './scanner-code-mix.ts';
import { createSimulatedScanSource, type SimulatedScan } from './scanner-code-source.ts';

/** A scanner at a venue's door. The venue id is its place in the hierarchy. */
export interface ScannerSite {
  readonly id: string;
  /** The scanner's broker secret (a device of kind `scanner`); absent for brokers without auth. */
  readonly password?: string;
  readonly venue: string;
  readonly place: Place;
}

/**
 * Scanners spread over the city's hierarchy as `generateCity` spreads gateways (every district
 * first), each in a building: ids `<prefix>00001`, …, venue = the place path. Deterministic in `seed`.
 */
export function planScannerSites(options: { readonly scanners: number; readonly seed?: number; readonly idPrefix?: string }): ScannerSite[] {
  const city = generateCity({ gateways: options.scanners, seed: options.seed ?? 1, idPrefix: options.idPrefix ?? 'scn-' });
  return city.gateways.map((g, i) => {
    const place = { ...g.place, building: g.place.building === '' ? `b${String(1 + (i % 20)).padStart(2, '0')}` : g.place.building };
    return { id: g.id, venue: formatPlace(place), place };
  });
}

/** What every agent of the fleet gets besides its identity (timeouts, spool bounds, ...). */
export type ScannerAgentOverrides = Partial<Pick<ScannerAgentConfigInput, 'verify' | 'spool' | 'local'>> & {
  readonly mqtt?: Partial<ScannerAgentConfigInput['mqtt']>;
  readonly reference?: { readonly trustRefreshMs?: number; readonly revocationRefreshMs?: number };
};

export interface ScannerFleetConfig {
  readonly brokerUrl: string;
  readonly sites: readonly ScannerSite[];
  /** Each scanner's spool and reference copies live in `<dataRoot>/<scanner id>`. */
  readonly dataRoot: string;
  /** The trust file (path or URL) the scanners keep for offline verification. */
  readonly trustSource: string;
  /** The verifier's revocation filter URL (`/v1/revocation/filter`), or a file. */
  readonly revocationSource?: string | undefined;
  /** Codes per second for the whole fleet, spread evenly; absent: each door as fast as it can. */
  readonly codesPerSecond?: number | undefined;
  /** Codes per scanner, then its queue ends; absent: until stop(). */
  readonly codesPerScanner?: number | undefined;
  readonly mix?: CodeMix | undefined;
  /** A venue's mix at a moment when an incident changes it (city-incidents' `mixAt`); undefined: `mix`. */
  readonly mixAt?: ((venue: string, nowMs: number) => CodeMix | undefined) | undefined;
  readonly seed?: number | undefined;
  readonly agent?: ScannerAgentOverrides | undefined;
  /** At start, how long each scanner may take to reach the verifier before its queue starts anyway (offline). Default 5000. */
  readonly waitOnlineMs?: number | undefined;
}

export interface ScannerFleetDeps {
  readonly mint: ScannerCodeMint;
  readonly logger?: Logger;
  readonly timers?: Timers;
}

export interface ClassTally {
  scanned: number;
  /** Got exactly the reason expected of its class. */
  asExpected: number;
  unexpected: number;
}

export interface ScannerFleetStats {
  readonly scanners: number;
  readonly online: number;
  readonly scanned: number;
  readonly offline: number;
  readonly skipped: number;
  readonly byReason: Readonly<Record<string, number>>;
  readonly byClass: Readonly<Record<CodeClass, ClassTally>>;
  readonly latencyMs: ReturnType<typeof summarizeLatencies>;
  readonly spoolPending: number;
  readonly eventsUploaded: number;
  /** Of those, events the verifier had already (a resend after a lost answer): stored once, not twice. */
  readonly eventsDuplicate: number;
  /** The first few verdicts that were not what their class expects. */
  readonly mismatches: readonly { scanner: string; codeClass: CodeClass; expected: string; got: string; offline: boolean }[];
}

export interface ScannerFleet {
  start(): Promise<void>;
  /** Ends the queues, waits for the scans in progress, stops the agents. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when every queue has ended (with `codesPerScanner`) or the fleet stopped. */
  finished(): Promise<void>;
  stats(): ScannerFleetStats;
  /** Each class got its expected verdict, every time: `ok`, or what went wrong. */
  check(): { ok: boolean; problems: string[] };
  readonly agents: () => readonly ScannerAgent[];
}

const LATENCY_SAMPLES = 10_000;
const MISMATCH_EXAMPLES = 20;

/**
 * A fleet of real scanner agents (MQTT to the verifier, offline verification, on-disk spool) at
 * venues across the city, each fed by a queue of people whose codes follow the mix, all in this
 * process: what `cityops scan --simulate` (and `cityops up`) runs. Every verdict is compared with
 * what its class must get, online and offline alike.
 */
export function createScannerFleet(config: ScannerFleetConfig, deps: ScannerFleetDeps): ScannerFleet {
  const mix = config.mix ?? DEFAULT_CODE_MIX;
  const totalWeight = CODE_CLASSES.reduce((n, c) => n + mix[c], 0);
  const agents: ScannerAgent[] = [];
  const sources: ReturnType<typeof createSimulatedScanSource>[] = [];
  const loops: Promise<void>[] = [];
  const byReason: Record<string, number> = {};
  const byClass = Object.fromEntries(CODE_CLASSES.map((c) => [c, { scanned: 0, asExpected: 0, unexpected: 0 }])) as Record<CodeClass, ClassTally>;
  const mismatches: ScannerFleetStats['mismatches'][number][] = [];
  const latencies: number[] = [];
  let latencyNext = 0;
  let scanned = 0;
  let offline = 0;
  let stopping: Promise<void> | undefined;
  const perScanner = config.codesPerSecond === undefined ? undefined : config.codesPerSecond / Math.max(1, config.sites.length);

  function record(site: ScannerSite, scan: SimulatedScan, result: ScanResult, ms: number): void {
    scanned++;
    if (result.offline) offline++;
    byReason[result.reason] = (byReason[result.reason] ?? 0) + 1;
    const tally = byClass[scan.codeClass];
    tally.scanned++;
    if (result.reason === scan.expectedReason) {
      tally.asExpected++;
    } else {
      tally.unexpected++;
      if (mismatches.length < MISMATCH_EXAMPLES) {
        mismatches.push({ scanner: site.id, codeClass: scan.codeClass, expected: scan.expectedReason, got: result.reason, offline: result.offline });
      }
    }
    // A bounded sample: the last LATENCY_SAMPLES scans.
    latencies[latencyNext] = ms;
    latencyNext = (latencyNext + 1) % LATENCY_SAMPLES;
  }

  async function run(site: ScannerSite, agent: ScannerAgent, source: AsyncIterable<SimulatedScan>): Promise<void> {
    for await (const scan of source) {
      const started = performance.now();
      let result: ScanResult;
      try {
        result = await agent.scan(scan.qr, scan.venue);
      } catch {
        return; // the agent stopped under the queue
      }
      record(site, scan, result, performance.now() - started);
    }
  }

  /** A door just switched on verifies offline until it reaches the verifier: give it a moment first. */
  function untilOnline(agent: ScannerAgent): Promise<void> {
    const timers = deps.timers ?? systemTimers;
    return new Promise<void>((resolve) => {
      const timer = timers.setTimeout(resolve, config.waitOnlineMs ?? 5000);
      agent.once('online', () => {
        timers.clearTimeout(timer);
        resolve();
      });
    });
  }

  function agentFor(site: ScannerSite): ScannerAgent {
    const o = config.agent ?? {};
    return createScannerAgent(
      {
        scannerId: site.id,
        venue: site.venue,
        dataDir: join(config.dataRoot, site.id),
        mqtt: { url: config.brokerUrl, ...(site.password === undefined ? {} : { password: site.password }), ...o.mqtt },
        reference: {
          trust: { source: config.trustSource, ...(o.reference?.trustRefreshMs === undefined ? {} : { refreshMs: o.reference.trustRefreshMs }) },
          ...(config.revocationSource === undefined
            ? {}
            : { revocation: { source: config.revocationSource, ...(o.reference?.revocationRefreshMs === undefined ? {} : { refreshMs: o.reference.revocationRefreshMs }) } }),
        },
        ...(o.verify === undefined ? {} : { verify: o.verify }),
        ...(o.spool === undefined ? {} : { spool: o.spool }),
        ...(o.local === undefined ? {} : { local: o.local }),
      },
      { ...(deps.logger === undefined ? {} : { logger: deps.logger.child({ scanner: site.id }) }), ...(deps.timers === undefined ? {} : { timers: deps.timers }) },
    );
  }

  const fleet: ScannerFleet = {
    agents: () => agents,
    async start() {
      const started = await Promise.all(
        config.sites.map(async (site) => {
          const agent = agentFor(site);
          const online = untilOnline(agent);
          await agent.start();
          await online;
          return { site, agent };
        }),
      );
      for (const [i, { site, agent }] of started.entries()) {
        const source = createSimulatedScanSource(
          { venue: site.venue, mix, mixAt: config.mixAt === undefined ? undefined : (t: number) => config.mixAt?.(site.venue, t), ratePerSecond: perScanner, limit: config.codesPerScanner },
          { mint: deps.mint, random: createSeededRandom((config.seed ?? 1) * 100_003 + i), ...(deps.timers === undefined ? {} : { timers: deps.timers }) },
        );
        agents.push(agent);
        sources.push(source);
        loops.push(run(site, agent, source));
      }
    },
    finished: () => Promise.all(loops).then(() => undefined),
    stop() {
      stopping ??= (async () => {
        await Promise.all(sources.map((s) => s.stop()));
        await Promise.allSettled(loops);
        await Promise.all(agents.map((a) => a.stop()));
      })();
      return stopping;
    },
    stats() {
      const agentStats = agents.map((a) => a.stats());
      const skipped = sources.reduce((n, s) => n + (s.stats()).skipped, 0);
      return {
        scanners: agents.length,
        online: agentStats.filter((s) => s.online).length,
        scanned,
        offline,
        skipped,
        byReason: { ...byReason },
        byClass: Object.fromEntries(CODE_CLASSES.map((c) => [c, { ...byClass[c] }])) as Record<CodeClass, ClassTally>,
        latencyMs: summarizeLatencies(latencies),
        spoolPending: agentStats.reduce((n, s) => n + s.spool.pending, 0),
        eventsUploaded: agentStats.reduce((n, s) => n + s.uploads.eventsAccepted, 0),
        eventsDuplicate: agentStats.reduce((n, s) => n + s.uploads.eventsDuplicate, 0),
        mismatches: [...mismatches],
      };
    },
    check() {
      const problems: string[] = [];
      for (const c of CODE_CLASSES) {
        const t = byClass[c];
        if (t.unexpected > 0) problems.push(`${c}: ${t.unexpected} of ${t.scanned} did not get the expected verdict`);
        // A class expected at least 20 times and never met: the mix is not what was asked for.
        if (t.scanned === 0 && (scanned * mix[c]) / totalWeight >= 20) problems.push(`${c}: none scanned in ${scanned} codes`);
      }
      return { ok: problems.length === 0, problems };
    },
  };
  return fleet;
}
