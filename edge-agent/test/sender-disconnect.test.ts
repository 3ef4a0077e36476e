import type { Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import type { JournalPosition } from '../src/journal/ack-pointer.ts';
import type { Journal } from '../src/journal/journal.ts';
import type { MqttLink } from '../src/mqtt-link.ts';
import { createSender } from '../src/sender.ts';

describe('sender', () => {
  it('drops a replay whose connection went while the journal was read, without an error (issue 19: a quiet stop)', async () => {
    let releaseAlarm: () => void = () => undefined;
    let alarmRead: Promise<unknown> | undefined;
    const reads: string[] = [];
    const position = { segment: 0, offset: 0 } as unknown as JournalPosition;
    const journal = {
      firstUnacked: () => position,
      read: vi.fn((lane: string) => {
        reads.push(lane);
        // The alarm lane is empty, and its read is still on the disk when the link goes down.
        if (lane !== 'alarm') return Promise.resolve({ records: [], next: position });
        alarmRead = new Promise((resolve) => (releaseAlarm = () => resolve({ records: [], next: position })));
        return alarmRead;
      }),
    } as unknown as Journal;
    const recycle = vi.fn();
    const error = vi.fn();
    const link = { connected: true, generation: 1, publish: vi.fn(), recycle } as unknown as MqttLink;
    const logger = { error, warn: vi.fn(), info: vi.fn(), debug: vi.fn() } as unknown as Logger;
    const sender = createSender({ topic: 't', maxInflight: 8, ackTimeoutMs: 60_000 }, { journal, link, logger, timers: systemTimers, onPublished: vi.fn(), onAcked: vi.fn() });
    sender.connected(1);
    await vi.waitFor(() => expect(reads).toEqual(['alarm']));
    sender.stop();
    sender.disconnected();
    releaseAlarm();
    // Awaited after the pump awaited it: the pump's continuation (read the routine lane, or throw) has run.
    await alarmRead;
    expect(reads).toEqual(['alarm']);
    expect(error).not.toHaveBeenCalled();
    expect(recycle).not.toHaveBeenCalled();
  });
});
