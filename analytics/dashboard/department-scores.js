// Department indicators beside the alert board (issue 23): ratings, times to accept and resolve,
// reopen rate, from the alert events. Comments come only with an operator's token; raters never.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { api } from './api.js';
import { num, pct } from './format.js';

const WINDOWS = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

function minutes(seconds) {
  return seconds === null ? '–' : `${num(seconds / 60)} min`;
}

export function DepartmentScores({ tick, scored }) {
  const [by, setBy] = useState('department');
  const [window, setWindow] = useState('7d');
  const [result, setResult] = useState();
  // Re-read once a minute with the stream's snapshots, and when an alert event moves the figures.
  const minute = tick === undefined ? 0 : Math.floor(tick / 60_000);
  useEffect(() => {
    let current = true;
    const to = Date.now();
    api.departmentIndicators(by, to - WINDOWS[window], to).then(
      (r) => current && setResult(r),
      (err) => current && setResult({ error: `${err.code ?? err.status}: ${err.message}` }),
    );
    return () => {
      current = false;
    };
  }, [by, window, minute, scored]);

  return html`<div data-testid="department-scores">
    <div class="controls">
      <label>By <select value=${by} onChange=${(e) => setBy(e.currentTarget.value)}>
        <option value="department">department</option><option value="district">district</option>
      </select></label>
      <label>Window <select value=${window} onChange=${(e) => setWindow(e.currentTarget.value)}>
        ${Object.keys(WINDOWS).map((w) => html`<option value=${w}>${w}</option>`)}
      </select></label>
    </div>
    ${result === undefined ? html`<p class="muted">Loading…</p>` : null}
    ${result?.error ? html`<p role="alert" class="error">Department indicators unavailable: ${result.error}</p>` : null}
    ${result?.groups
      ? html`<div class="table-scroll"><table>
          <caption class="muted small">From the alert events: good share of ratings, mean time from assignment to accept and to resolve, reopened per resolution</caption>
          <thead><tr><th scope="col">${by}</th><th scope="col">Ratings</th><th scope="col">Good</th><th scope="col">Accept</th><th scope="col">Resolve</th><th scope="col">Reopen rate</th><th scope="col">Flagged</th></tr></thead>
          <tbody>
            ${result.groups.length === 0 ? html`<tr><td colspan="7" class="muted">No handled alerts in the window</td></tr>` : null}
            ${result.groups.map(
              (g) => html`<tr key=${g.group} data-testid="department-score">
                <th scope="row">${g.group}</th><td>${g.ratings}</td><td>${pct(g.goodShare)}</td><td>${minutes(g.acceptSecondsAvg)}</td>
                <td>${minutes(g.resolveSecondsAvg)}</td><td>${pct(g.reopenRate)}</td><td class=${g.flagged > 0 ? 'bad' : ''}>${g.flagged}</td>
              </tr>`,
            )}
          </tbody>
        </table></div>
        ${result.groups.some((g) => g.comments?.length)
          ? html`<details><summary>Rating comments</summary><ul class="compact">
              ${result.groups.flatMap((g) => (g.comments ?? []).map((c) => html`<li><strong>${g.group}</strong> · ${c.rating} (${c.stage}, ${c.channel}): ${c.comment}</li>`))}
            </ul></details>`
          : null}`
      : null}
  </div>`;
}
