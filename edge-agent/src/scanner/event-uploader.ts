import type { EventSpool } from './event-spool.ts';
import type { PendingAnswers } from './pending-answers.ts';
import type { ScannerLink } from './scanner-link.ts';

/**
 * The verifier's answer to an upload on verify-res: `{"id", "accepted", "refused", "duplicates"}`
 * once it stored them (`duplicates`: it had them already, a resend), or `{"id", ..., "deferred": true}`
 * when it could not store them now (its warehouse): they stay here and go again later.
 */
export interface UploadReceipt {
  readonly accepted: number;
  readonly refused: number;
  readonly duplicates: number;
  readonly deferred: boolean;
}

export interface UploadOutcome {
  /** The verifier answered: it is reachable; unless deferred, the events sent left the spool. */
  readonly answered: boolean;
  readonly deferred: boolean;
  readonly events: number;
  readonly accepted: number;
  readonly refused: number;
  readonly duplicates: number;
}

/**
 * Uploads answered or not; `deferred`: answered, but the verifier could not store them yet (kept,
 * sent again). `eventsAccepted`: events the verifier has, stored by this upload or an earlier one
 * (`eventsDuplicate`, a resend, are among them); `eventsRefused`: refused by its schema (they leave too).
 */
export interface UploadCounts {
  answered: number;
  unanswered: number;
  deferred: number;
  eventsAccepted: number;
  eventsRefused: number;
  eventsDuplicate: number;
}

export interface EventUploader {
  /** Sends the oldest spooled events (none: a probe); one upload at a time, a second call joins the first. */
  upload(): Promise<UploadOutcome>;
  /** Counted in the same step as the events leave the spool: never behind its `acknowledged`. */
  stats(): UploadCounts;
}

/**
 * Uploads spooled offline events on `cityops/v1/verify-events/{scanner}` (QoS 1) as the verifier's
 * offline-events schema has them, `{"id", "events": [...]}`, and deletes them from the spool only
 * when the verifier has them: after the broker's PUBACK and the verifier's answer with the
 * upload's id. A PUBACK alone only says the broker took the message: with the verifier down it
 * would drop it (nobody subscribed). Events the verifier refuses (its schema) leave too: sending
 * them again would be refused again. An upload of no events is how an offline scanner asks
 * whether the verifier is back: it is answered and writes nothing.
 *
 * Every event carries the id the spool gave it, so sending it again (an answer lost, a scanner
 * restarted before deleting) is harmless: the verifier stores each id once and counts the rest
 * as duplicates.
 */
export function createEventUploader(
  config: { readonly topic: string; readonly batch: number },
  deps: { readonly spool: EventSpool; readonly link: ScannerLink; readonly answers: PendingAnswers<UploadReceipt> },
): EventUploader {
  let running: Promise<UploadOutcome> | undefined;
  const counts: UploadCounts = { answered: 0, unanswered: 0, deferred: 0, eventsAccepted: 0, eventsRefused: 0, eventsDuplicate: 0 };

  function unanswered(events: number): UploadOutcome {
    counts.unanswered++;
    return { answered: false, deferred: false, events, accepted: 0, refused: 0, duplicates: 0 };
  }

  async function uploadOnce(): Promise<UploadOutcome> {
    const { events, refs } = await deps.spool.oldest(config.batch);
    const question = deps.answers.open();
    if (question === undefined) return unanswered(0);
    const puback = new Promise<Error | undefined>((resolve) => {
      deps.link.publish(config.topic, JSON.stringify({ id: question.id, events }), (err) => {
        if (err !== undefined) deps.answers.cancel(question.id);
        resolve(err);
      });
    });
    const answer = await question.answer;
    if (!answer.ok) return unanswered(events.length);
    // The verifier's answer proves it has the events; a PUBACK lost with the connection after it
    // must not make us send them twice, so its error is not waited for beyond its arrival.
    await puback;
    const { accepted, refused, duplicates, deferred } = answer.value;
    // Counted with no await between the count and the acknowledgement: a reader of stats() between
    // two ticks (a metrics scrape, a test) would otherwise see events gone from the spool uncounted.
    counts.answered++;
    if (deferred) {
      counts.deferred++;
    } else {
      deps.spool.acknowledge(refs);
      counts.eventsAccepted += accepted;
      counts.eventsRefused += refused;
      counts.eventsDuplicate += duplicates;
    }
    return { answered: true, deferred, events: events.length, accepted, refused, duplicates };
  }

  return {
    upload() {
      running ??= uploadOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
    stats: () => ({ ...counts }),
  };
}
