import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reading } from '@cityops/protocol';
import { pino } from 'pino';
import { createGatewayAgent, createSeededRandom, type GatewayAgent, type GatewayAgentConfigInput, type Lane } from '../src/index.ts';

export const DEVICE = 'gw-test-1';
const T0 = 1_764_000_000_000;

export const routine = (i: number): Reading => ({ sensor: `pm-${i % 5}`, metric: 'pm25', ts: T0 + i, value: i / 10 });
export const alarm = (i: number): Reading => ({ sensor: 'cover-1', metric: 'manhole_tilt', ts: T0 + i, value: 20 + (i % 50), alarm: true });

/** Temp journal dirs and agents of one test file, all cleaned up by `cleanup()`. */
export function createAgentFixture() {
  const dirs: string[] = [];
  const agents: GatewayAgent[] = [];
  return {
    async journalDir(): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'cityops-agent-'));
      dirs.push(dir);
      return dir;
    },
    agent(config: { journalDir: string; url: string } & Partial<Omit<GatewayAgentConfigInput, 'mqtt'>> & { mqtt?: Partial<GatewayAgentConfigInput['mqtt']> }, seed = 1): GatewayAgent {
      const { url, mqtt, batch, journal, ...rest } = config;
      const agent = createGatewayAgent(
        {
          deviceId: DEVICE,
          ...rest,
          mqtt: { url, reconnectMinMs: 10, reconnectMaxMs: 100, stopTimeoutMs: 300, ...mqtt },
          // Batches close when full or on flush(), never on a timer: tests count batches exactly.
          batch: { maxReadings: 10, maxDelayMs: 3_600_000, ...batch },
          journal: { segmentBytes: 4096, maxBytes: 1024 * 1024, fsync: 'off', ...journal },
        },
        { logger: pino({ level: 'silent' }), random: createSeededRandom(seed) },
      );
      agents.push(agent);
      return agent;
    },
    async cleanup(): Promise<void> {
      for (const agent of agents.splice(0)) await agent.stop();
      for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Segment files of a lane and their total size: what the journal holds on disk. */
export async function segmentsOnDisk(journalDir: string, lane: Lane): Promise<{ files: number; bytes: number }> {
  const dir = join(journalDir, lane);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.seg'));
  let bytes = 0;
  for (const name of names) bytes += (await stat(join(dir, name))).size;
  return { files: names.length, bytes };
}

export function once(agent: GatewayAgent, event: 'connected' | 'disconnected' | 'idle'): Promise<void> {
  return new Promise((resolve) => agent.once(event, () => resolve()));
}
