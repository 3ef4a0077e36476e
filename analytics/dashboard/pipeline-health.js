// Pipeline health from ingest's and the verifier's /metrics (read by the analytics server).
import { html } from './html.js';
import { num, pct } from './format.js';

function Source({ title, source, rows }) {
  if (!source.configured) return html`<section class="source"><h3>${title}</h3><p class="muted">Not configured (dashboard.sources)</p></section>`;
  if (!source.up) return html`<section class="source"><h3>${title} <span class="badge state-critical">down</span></h3><p class="error">${source.error}</p></section>`;
  const f = source.figures;
  return html`<section class="source">
    <h3>${title} <span class="badge state-normal">up</span></h3>
    <dl class="figures">${rows.map(([label, key, fmt, bad]) => html`<div><dt>${label}</dt><dd data-testid=${key} class=${bad?.(f[key]) ? 'bad' : ''}>${fmt(f[key])}</dd></div>`)}</dl>
  </section>`;
}

function Rules({ rules }) {
  if (rules === undefined) return html`<section class="source"><h3>Alert rules</h3><p class="muted">No rule engine in this instance</p></section>`;
  return html`<section class="source">
    <h3>Alert rules <span class=${`badge state-${rules.connected ? 'normal' : 'critical'}`} data-testid="rules-link">${rules.connected ? 'live' : 'link down'}</span></h3>
    <dl class="figures">
      <div><dt>Conditions</dt><dd>${num(rules.conditions, 0)}</dd></div>
      <div><dt>Sensors</dt><dd>${num(rules.sensors, 0)}</dd></div>
      <div><dt>Devices</dt><dd>${num(rules.devices, 0)}</dd></div>
    </dl>
    ${(rules.anomalies ?? []).map(
      (a) => html`<p data-testid=${`rule-${a.rule}`}>${a.rule} <span class=${`badge state-${a.state === 'ready' ? 'normal' : 'no_data'}`}>${a.state}</span>
        <span class="muted">${a.state === 'ready' ? `${num(a.venuesReady, 0)} venues watched` : `needs ${a.history} of history and ${num(a.minBaselineEvents, 0)} checks per venue`}${a.venuesLearning > 0 && a.state === 'ready' ? `, ${num(a.venuesLearning, 0)} still learning` : ''}</span></p>`,
    )}
  </section>`;
}

export function PipelineHealth({ pipeline, rules }) {
  if (pipeline === undefined) return html`<p class="muted">Waiting…</p>`;
  return html`<div class="sources">
    <${Source} title="Ingest" source=${pipeline.ingest} rows=${[
      ['Readings/s', 'readingsPerSecond', (v) => num(v, 0)],
      ['Lag', 'lagSeconds', (v) => (v === null ? '–' : `${num(v, 2)} s`), (v) => v > 5],
      ['Dead letters/s', 'deadLettersPerSecond', (v) => num(v, 2), (v) => v > 0],
      ['Dead letters', 'deadLetters', (v) => num(v, 0)],
      ['Broker clients', 'brokerClients', (v) => num(v, 0)],
      ['Rows buffered', 'bufferedRows', (v) => num(v, 0)],
    ]} />
    <${Source} title="Verifier" source=${pipeline.verifier} rows=${[
      ['Verdicts/s', 'verdictsPerSecond', (v) => num(v, 1)],
      ['Pool use', 'poolUtilization', (v) => pct(v), (v) => v > 0.8],
      ['Pool queue', 'poolQueueBatches', (v) => num(v, 0), (v) => v > 0],
      ['Pool threads', 'poolThreads', (v) => num(v, 0)],
      ['Overloaded/s', 'overloadedPerSecond', (v) => num(v, 2), (v) => v > 0],
    ]} />
    <${Rules} rules=${rules} />
  </div>`;
}
