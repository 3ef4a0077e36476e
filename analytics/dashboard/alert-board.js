// The alert board: alerts by state, one alert's timeline, and the department's accept / resolve / reopen.
/* global sessionStorage */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { html } from './html.js';
import { dateTime, leaf, num, time } from './format.js';

const STATES = ['open', 'dispatched', 'accepted', 'resolved', 'suppressed', 'verified', 'closed'];
const LIVE = new Set(['open', 'dispatched', 'accepted', 'resolved', 'suppressed']);

/** Who acts: an operator token when the server has operators, else a name (development). */
export function OperatorField({ operatorsRequired, identity, onChange }) {
  return operatorsRequired
    ? html`<label class="field">Operator token
        <input type="password" autocomplete="off" value=${identity} onInput=${(e) => onChange(e.currentTarget.value)} placeholder="Bearer token" data-testid="operator-token" />
      </label>`
    : html`<label class="field">Acting as
        <input type="text" value=${identity} onInput=${(e) => onChange(e.currentTarget.value)} data-testid="operator-name" />
      </label>`;
}

function StateCounts({ alerts, filter, onFilter }) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const a of alerts) counts[a.state]++;
  return html`<div class="chips" role="group" aria-label="Show alerts by state">
    <button type="button" aria-pressed=${filter === 'live'} onClick=${() => onFilter('live')}>Live ${alerts.filter((a) => LIVE.has(a.state)).length}</button>
    ${STATES.map(
      (s) => html`<button type="button" class=${`chip alert-${s}`} aria-pressed=${filter === s} onClick=${() => onFilter(s)} data-testid=${`count-${s}`}>${s} ${counts[s]}</button>`,
    )}
  </div>`;
}

function Timeline({ view }) {
  return html`<ol class="timeline" data-testid="timeline">
    ${view.events.map(
      (e) => html`<li key=${e.seq}>
        <time datetime=${new Date(e.at).toISOString()}>${time(e.at)}</time>
        <strong>${e.type}</strong> → ${e.state}
        <span class="muted"> by ${e.actor}${e.department ? ` · ${e.department}` : ''}${e.rating ? ` · rated ${e.rating}` : ''}</span>
        ${e.feedback ? html`<blockquote>${e.feedback}</blockquote>` : null}
      </li>`,
    )}
  </ol>`;
}

/** The duty office's rating of a handled alert (issue 23): once when resolved, again when closed. */
function Rate({ view, act, busy }) {
  const [comment, setComment] = useState('');
  useEffect(() => setComment(''), [view.id, view.state]);
  const stage = view.state === 'closed' ? 'closed' : 'resolved';
  const done = view.events?.some((e) => e.type === 'rated' && e.actor === 'rater:screen' && e.ratingStage === stage);
  if (view.resolvedAt === undefined) return null;
  if (done) return html`<p class="muted small" data-testid="rated">Rated by the duty office at the ${stage} stage.</p>`;
  const rate = (rating) => act('rate', comment.trim() === '' ? { rating } : { rating, comment });
  return html`<div class="act" data-testid="rate">
    <label class="field">Rate the handling (${stage}), optional comment
      <textarea maxlength="1000" rows="2" value=${comment} onInput=${(e) => setComment(e.currentTarget.value)} data-testid="rating-comment"></textarea>
    </label>
    <button type="button" class="primary" disabled=${busy} onClick=${() => rate('good')} data-testid="rate-good">Good</button>
    <button type="button" disabled=${busy} onClick=${() => rate('bad')} data-testid="rate-bad">Bad</button>
  </div>`;
}

function Actions({ view, act, busy }) {
  const [text, setText] = useState('');
  useEffect(() => setText(''), [view.id, view.state]);
  const submit = (verb, field) => (e) => {
    e.preventDefault();
    act(verb, { [field]: text });
  };
  if (view.state === 'dispatched') {
    return html`<button type="button" class="primary" disabled=${busy} onClick=${() => act('accept', {})}>Accept</button>`;
  }
  if (view.state === 'accepted') {
    return html`<form onSubmit=${submit('resolve', 'feedback')} class="act">
      <label class="field">Feedback (what was done)
        <textarea required maxlength="4000" rows="3" value=${text} onInput=${(e) => setText(e.currentTarget.value)} data-testid="feedback"></textarea>
      </label>
      <button type="submit" class="primary" disabled=${busy || text.trim() === ''}>Resolve</button>
    </form>`;
  }
  if (view.state === 'resolved' || view.state === 'verified' || view.state === 'closed') {
    return html`<${Rate} view=${view} act=${act} busy=${busy} /><form onSubmit=${submit('reopen', 'reason')} class="act">
      <label class="field">Reason to reopen
        <textarea required maxlength="4000" rows="2" value=${text} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
      </label>
      <button type="submit" disabled=${busy || text.trim() === ''}>Reopen</button>
    </form>`;
  }
  return null;
}

function AlertDetail({ id, revision, identity, operatorsRequired, onUpdated, onClose }) {
  const [view, setView] = useState();
  const [error, setError] = useState();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let live = true;
    api.alert(id).then((v) => live && setView(v)).catch((err) => live && setError(err.message));
    return () => {
      live = false;
    };
  }, [id, revision]);

  async function act(verb, body) {
    setBusy(true);
    setError(undefined);
    try {
      const next = await api.act(id, verb, operatorsRequired ? body : { ...body, by: identity || 'control room' }, operatorsRequired ? identity : undefined);
      setView(next);
      onUpdated(next);
    } catch (err) {
      setError(`${err.code}: ${err.message}`);
    } finally {
      setBusy(false);
    }
  }

  if (view === undefined) return html`<section class="detail" aria-live="polite">${error ? html`<p role="alert" class="error">${error}</p>` : 'Loading…'}</section>`;
  return html`<section class="detail" aria-labelledby="alert-detail-title" data-testid="alert-detail" data-state=${view.state}>
    <header class="detail-head">
      <h3 id="alert-detail-title">${view.summary}</h3>
      <button type="button" onClick=${onClose} aria-label="Close the alert's details">✕</button>
    </header>
    <dl class="facts">
      <div><dt>State</dt><dd><span class=${`badge alert-${view.state}`} data-testid="detail-state">${view.state}</span></dd></div>
      <div><dt>Severity</dt><dd>${view.severity}</dd></div>
      <div><dt>Place</dt><dd>${view.place || 'city'}</dd></div>
      <div><dt>Department</dt><dd>${view.department || '–'}</dd></div>
      <div><dt>Rule</dt><dd>${view.rule}</dd></div>
      ${view.value !== undefined ? html`<div><dt>Value / threshold</dt><dd>${num(view.value, 2)} / ${num(view.threshold, 2)}</dd></div>` : null}
      <div><dt>Opened</dt><dd>${dateTime(view.openedAt)}</dd></div>
    </dl>
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    <${Actions} view=${view} act=${act} busy=${busy} />
    <h4>Timeline</h4>
    <${Timeline} view=${view} />
  </section>`;
}

/** `alerts`: summaries, newest first; `revisions`: id → counter bumped by every live event. */
export function AlertBoard({ alerts, revisions, operatorsRequired, tokensRequired, onUpdated }) {
  const [filter, setFilter] = useState('live');
  const [selected, setSelected] = useState();
  const [identity, setIdentity] = useState(() => sessionStorage.getItem('cityops.identity') ?? (operatorsRequired ? '' : 'control room'));
  useEffect(() => sessionStorage.setItem('cityops.identity', identity), [identity]);
  const shown = alerts.filter((a) => (filter === 'live' ? LIVE.has(a.state) : a.state === filter)).slice(0, 200);
  return html`<div class="board">
    <div class="board-bar">
      <${StateCounts} alerts=${alerts} filter=${filter} onFilter=${setFilter} />
      ${tokensRequired ? null : html`<${OperatorField} operatorsRequired=${operatorsRequired} identity=${identity} onChange=${setIdentity} />`}
    </div>
    <div class=${`board-body${selected ? ' with-detail' : ''}`}>
      <div class="table-scroll"><table class="alerts" data-testid="alert-table">
        <caption class="visually-hidden">Alerts, newest first</caption>
        <thead><tr><th scope="col">Alert</th><th scope="col">State</th><th scope="col">Place</th><th scope="col">Department</th><th scope="col">Opened</th></tr></thead>
        <tbody>
          ${shown.length === 0 ? html`<tr><td colspan="5" class="muted">No alerts in this view</td></tr>` : null}
          ${shown.map(
            (a) => html`<tr key=${a.id} class=${selected === a.id ? 'selected' : ''} data-alert-id=${a.id} data-rule=${a.rule} data-state=${a.state}>
              <td><button type="button" class=${`link sev-${a.severity}`} onClick=${() => setSelected(a.id)} aria-expanded=${selected === a.id}>${a.summary}</button></td>
              <td><span class=${`badge alert-${a.state}`}>${a.state}</span></td>
              <td>${leaf(a.place || '')}</td>
              <td>${a.department || '–'}</td>
              <td>${time(a.openedAt)}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>
      ${selected
        ? html`<${AlertDetail} id=${selected} revision=${revisions[selected] ?? 0} identity=${identity} operatorsRequired=${operatorsRequired}
            onUpdated=${onUpdated} onClose=${() => setSelected(undefined)} />`
        : null}
    </div>
  </div>`;
}
