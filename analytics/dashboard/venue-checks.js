// Entrance checks: verdicts per second, denials by reason (aggregates only; small cells suppressed), quiet scanners.
import { html } from './html.js';
import { num, pct, time } from './format.js';

export function VenueChecks({ venues }) {
  if (venues === undefined) return html`<p class="muted">Waiting…</p>`;
  if (venues.error) return html`<p role="alert" class="error">Venue checks unavailable: ${venues.error}</p>`;
  const { scanners } = venues;
  return html`<div>
    <dl class="figures">
      <div><dt>Verifications/s</dt><dd data-testid="verifications-per-second">${venues.perSecond === null ? 'suppressed' : num(venues.perSecond, 2)}</dd></div>
      <div><dt>Denied</dt><dd>${pct(venues.denyShare)}</dd></div>
      <div><dt>Scanners offline</dt><dd class=${scanners.offline.length ? 'bad' : ''}>${scanners.offline.length} / ${scanners.known}</dd></div>
    </dl>
    <p class="muted small">${time(venues.from)}–${time(venues.to)}, complete minutes. Reasons with fewer than the privacy minimum of denials are suppressed.</p>
    <table class="bars">
      <caption>Denials by reason (share of all verdicts)</caption>
      <thead><tr><th scope="col">Reason</th><th scope="col">Share</th></tr></thead>
      <tbody>
        ${venues.denyByReason.length === 0 ? html`<tr><td colspan="2" class="muted">No denials</td></tr>` : null}
        ${venues.denyByReason.map(
          (r) => html`<tr key=${r.reason}>
            <th scope="row">${r.reason}</th>
            <td>${r.suppressed ? html`<span class="muted">suppressed</span>` : html`<span class="bar" style=${`--w:${Math.min(100, (r.share ?? 0) * 100 * 4)}%`}></span>${pct(r.share)}`}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${scanners.offline.length > 0
      ? html`<details><summary>Offline scanners (${scanners.offline.length})</summary><ul class="compact">${scanners.offline.map((s) => html`<li>${s}</li>`)}</ul></details>`
      : null}
  </div>`;
}
