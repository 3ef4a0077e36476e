import { describe, expect, it } from 'vitest';
import { createGatewayAgent, parseGatewayAgentConfig } from '../src/index.ts';

function problemsOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a configuration error');
}

describe('gateway agent configuration', () => {
  it('fills in defaults and freezes the result', () => {
    const config = parseGatewayAgentConfig({ deviceId: 'gw-1', journalDir: '/var/lib/cityops', mqtt: { url: 'mqtts://broker:8883' } });
    expect(config.batch).toEqual({ maxReadings: 100, maxDelayMs: 1000, maxPendingBatches: 16 });
    expect(config.journal).toMatchObject({ maxBytes: 64 * 1024 * 1024, whenFull: 'drop-oldest-routine', fsync: 'batch' });
    expect(config.mqtt).toMatchObject({ maxInflight: 32, reconnectMinMs: 500, reconnectMaxMs: 60_000 });
    expect(Object.isFrozen(config.journal)).toBe(true);
  });

  it('reports every problem at once, with the AGENT_ERR_CONFIG code', () => {
    const error = problemsOf(() =>
      createGatewayAgent({
        deviceId: 'gw/1',
        journalDir: '',
        mqtt: { url: 'http://broker', maxInflight: 0, surprise: true } as never,
        journal: { whenFull: 'drop-everything' as never },
      }),
    );
    expect(error.code).toBe('AGENT_ERR_CONFIG');
    for (const part of ['/deviceId', '/journalDir', '/mqtt/url', '/mqtt/maxInflight', '(surprise)', '/journal/whenFull']) {
      expect(error.message).toContain(part);
    }
  });

  it('checks rules that span fields', () => {
    const error = problemsOf(() =>
      parseGatewayAgentConfig({
        deviceId: 'gw-1',
        journalDir: '/tmp/j',
        mqtt: { url: 'mqtt://b', reconnectMinMs: 5000, reconnectMaxMs: 100, tls: { cert: 'PEM' } },
        journal: { maxBytes: 64 * 1024, segmentBytes: 32 * 1024 },
      }),
    );
    expect(error.message).toContain('reconnectMaxMs (100) is below reconnectMinMs (5000)');
    expect(error.message).toContain('at least 4 x segmentBytes');
    expect(error.message).toContain('cert and key go together');
  });
});
