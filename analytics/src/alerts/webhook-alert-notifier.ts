import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { AlertMetrics } from './alert-metrics.ts';
import type { AlertNotification, AlertNotifier } from './alert-notification.ts';
import type { AlertTimers } from './alert-timers.ts';

export interface WebhookTarget {
  readonly url: string;
  readonly secret?: string | undefined;
  readonly timeoutMs: number;
}

export interface WebhookQueueConfig {
  /** Deliveries waiting (queued or waiting for a retry); past it the oldest is dropped. */
  readonly max: number;
  readonly attempts: number;
  readonly backoffMs: number;
  readonly concurrency: number;
}

export interface WebhookAlertNotifierDeps {
  readonly logger: Logger;
  readonly metrics: AlertMetrics;
  readonly timers: AlertTimers;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

const MAX_BACKOFF_MS = 60_000;

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes under the hook's secret. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

interface Delivery {
  readonly hook: WebhookTarget;
  readonly body: string;
  readonly id: string;
  readonly type: string;
  attempt: number;
}

/**
 * POSTs every alert event to each webhook from a bounded queue: a few deliveries at a time, each
 * with a timeout, retried with doubling backoff. Full queue: the oldest delivery is dropped and
 * counted. Nothing here waits on a transition, and a transition never waits on this.
 */
export function createWebhookAlertNotifier(
  hooks: readonly WebhookTarget[],
  queue: WebhookQueueConfig,
  deps: WebhookAlertNotifierDeps,
): AlertNotifier {
  const doFetch = deps.fetch ?? fetch;
  const ready: Delivery[] = [];
  const waiting = new Map<unknown, Delivery>();
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  // close() aborts attempts in flight: a hook that hangs does not hold the service's stop.
  const closing = new AbortController();

  function makeRoom(): void {
    while (ready.length + waiting.size >= queue.max) {
      if (ready.length > 0) ready.shift();
      else {
        const [handle] = waiting.keys();
        deps.timers.clearTimeout(handle);
        waiting.delete(handle);
      }
      deps.metrics.webhookDropped.inc();
    }
  }

  async function attempt(d: Delivery): Promise<void> {
    d.attempt++;
    try {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-cityops-event': d.type,
        // Receivers deduplicate on it: a retry after a lost response repeats the same id.
        'x-cityops-delivery': d.id,
      };
      if (d.hook.secret !== undefined) headers['x-cityops-signature'] = webhookSignature(d.hook.secret, d.body);
      const response = await doFetch(d.hook.url, { method: 'POST', headers, body: d.body, signal: AbortSignal.any([AbortSignal.timeout(d.hook.timeoutMs), closing.signal]),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) {
        deps.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
        return;
      }
      throw new Error(`HTTP ${response.status}`);
    } catch (err) {
      deps.metrics.webhookAttemptFailures.inc();
      if (d.attempt >= queue.attempts || closed) {
        deps.metrics.webhookDeliveries.inc({ outcome: 'failed' });
        deps.logger.warn({ err, url: d.hook.url, delivery: d.id, attempts: d.attempt }, 'alert webhook given up');
        return;
      }
      const delay = Math.min(queue.backoffMs * 2 ** (d.attempt - 1), MAX_BACKOFF_MS);
      makeRoom();
      const handle = deps.timers.setTimeout(() => {
        waiting.delete(handle);
        if (closed) return;
        ready.push(d);
        pump();
      }, delay);
      waiting.set(handle, d);
    }
  }

  function pump(): void {
    while (!closed && inFlight.size < queue.concurrency && ready.length > 0) {
      const d = ready.shift()!;
      const p = attempt(d).finally(() => {
        inFlight.delete(p);
        pump();
      });
      inFlight.add(p);
    }
  }

  return {
    notify(n: AlertNotification) {
      if (closed || hooks.length === 0) return;
      const body = JSON.stringify(n);
      for (const hook of hooks) {
        makeRoom();
        ready.push({ hook, body, id: `${n.event.alertId}:${n.event.seq}`, type: n.event.type, attempt: 0 });
      }
      pump();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const handle of waiting.keys()) deps.timers.clearTimeout(handle);
      const left = ready.length + waiting.size;
      waiting.clear();
      ready.length = 0;
      if (left + inFlight.size > 0) deps.logger.warn({ undelivered: left + inFlight.size }, 'alert webhooks stopped with deliveries pending');
      closing.abort();
      await Promise.all(inFlight);
    },
  };
}
