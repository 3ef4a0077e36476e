import type { Logger } from 'pino';
import type { Timers } from './agent-deps.ts';
import { agentErrors } from './errors.ts';
import type { JournalPosition } from './journal/ack-pointer.ts';
import type { Journal } from './journal/journal.ts';
import type { JournalRecord, RecordRef } from './journal/lane.ts';
import type { Lane } from './journal/record-format.ts';
import type { MqttLink } from './mqtt-link.ts';

export interface SenderConfig {
  readonly topic: string;
  readonly maxInflight: number;
  readonly ackTimeoutMs: number;
}

export interface SenderDeps {
  readonly journal: Journal;
  readonly link: MqttLink;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly onPublished: (record: RecordRef) => void;
  readonly onAcked: (record: RecordRef) => void;
}

export interface Sender {
  /** Called on every (re)connection: replay starts again at the first unacknowledged batch. */
  connected(generation: number): void;
  disconnected(): void;
  /** Something new was journaled. */
  wake(): void;
  readonly inflight: number;
  stop(): void;
}

/**
 * Moves journaled batches to the broker: at most `maxInflight` unacknowledged at a time, the alarm
 * lane before the routine lane, each lane in journal order. The payload sent is the journaled
 * bytes, so a batch sent twice (after a lost PUBACK) carries the same (boot, seq) and the same
 * readings; ingest drops the duplicate. A batch leaves the journal only on its PUBACK.
 */
export function createSender(config: SenderConfig, deps: SenderDeps): Sender {
  const { journal, link, logger, timers } = deps;
  let generation = -1; // the connection the cursors belong to; -1 when there is none
  let cursors: Record<Lane, JournalPosition> | undefined;
  let inflight = 0;
  let pumping = false;
  let again = false;
  let stopped = false;
  let ackTimer: unknown;
  const lowWater = Math.floor(config.maxInflight / 2);

  function armAckTimer(): void {
    timers.clearTimeout(ackTimer);
    ackTimer = undefined;
    if (inflight === 0 || stopped) return;
    const gen = generation;
    ackTimer = timers.setTimeout(() => {
      ackTimer = undefined;
      if (gen === generation && inflight > 0) {
        link.recycle(agentErrors.AGENT_ERR_ACK_TIMEOUT(`${inflight} batches unacknowledged for ${config.ackTimeoutMs} ms`));
      }
    }, config.ackTimeoutMs);
  }

  function send(record: JournalRecord, gen: number): void {
    inflight++;
    if (inflight === 1) armAckTimer();
    link.publish(config.topic, record.payload, (err) => {
      if (gen !== generation) return; // from a dead connection: the replay sends it again
      inflight--;
      if (err !== undefined) {
        // Not acknowledged on a live connection: only a fresh connection replays it in order.
        link.recycle(agentErrors.AGENT_ERR_MQTT(`publish of ${record.lane} batch ${record.boot}/${record.seq} failed`, err));
        return;
      }
      journal.ack(record);
      armAckTimer(); // progress: the timeout counts from the latest PUBACK
      deps.onAcked(record);
      // Refill at half a window: one journal read then brings many batches, not one per PUBACK.
      if (inflight <= lowWater) pump();
    });
    deps.onPublished(record);
  }

  /** Fills the window from the journal; one pump at a time, re-run when woken meanwhile. */
  function pump(): void {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    void (async () => {
      try {
        do {
          again = false;
          while (!stopped && cursors !== undefined && link.connected && link.generation === generation && inflight < config.maxInflight) {
            const gen = generation;
            const room = config.maxInflight - inflight;
            let lane: Lane = 'alarm';
            let batch = await journal.read('alarm', cursors.alarm, room);
            if (batch.records.length === 0) {
              // The connection may have gone while the alarm lane was read (a stop, issue 19): its cursors with it.
              if (gen !== generation || cursors === undefined || stopped) break;
              lane = 'routine';
              batch = await journal.read('routine', cursors.routine, room);
            }
            if (gen !== generation || cursors === undefined || stopped) break;
            cursors[lane] = batch.next;
            if (batch.records.length === 0) break;
            for (const record of batch.records) send(record, gen);
          }
        } while (again && !stopped);
      } catch (err) {
        logger.error({ err }, 'replay from the journal failed; retrying on the next connection');
        link.recycle(agentErrors.AGENT_ERR_JOURNAL_IO('reading for replay', err));
      } finally {
        pumping = false;
      }
    })();
  }

  return {
    connected(gen) {
      generation = gen;
      inflight = 0;
      cursors = { alarm: journal.firstUnacked('alarm'), routine: journal.firstUnacked('routine') };
      armAckTimer();
      pump();
    },
    disconnected() {
      generation = -1;
      cursors = undefined;
      inflight = 0;
      armAckTimer();
    },
    wake: pump,
    get inflight() {
      return inflight;
    },
    stop() {
      stopped = true;
      timers.clearTimeout(ackTimer);
      ackTimer = undefined;
    },
  };
}
