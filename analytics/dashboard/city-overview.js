// The city overview: a tile per place, coloured by its worst indicator state; drill-down by click.
import { html } from './html.js';
import { STATE_LABEL, leaf, num, pct } from './format.js';

const NEXT_LEVEL = { district: 'subdistrict', subdistrict: 'grid' };

export function Breadcrumb({ place, onNavigate }) {
  const parts = place === '' ? [] : place.split('/');
  return html`<nav aria-label="Place" class="crumbs">
    <button type="button" onClick=${() => onNavigate('')} aria-current=${place === '' ? 'page' : undefined}>City</button>
    ${parts.map((p, i) => {
      const path = parts.slice(0, i + 1).join('/');
      return html`<span aria-hidden="true">›</span>
        <button type="button" onClick=${() => onNavigate(path)} aria-current=${path === place ? 'page' : undefined}>${p}</button>`;
    })}
  </nav>`;
}

/** A mark's value as the tile shows it; `so far` when it is the current window's (partial). */
function markText(m) {
  const value = m.unit === 'share' ? pct(m.value) : `${num(m.value, 1)} ${m.unit}`;
  return m.partial ? `${value} so far (${m.samples ?? 0} samples)` : value;
}

/** `overview`: { level, places: [{ place, state, marks, counts, partial }] } or { error }. */
export function CityOverview({ overview, place, onNavigate }) {
  if (overview === undefined) return html`<p class="muted">Waiting for the first picture…</p>`;
  if (overview.error) return html`<p role="alert" class="error">Overview unavailable: ${overview.error}</p>`;
  const next = NEXT_LEVEL[overview.level];
  return html`<div>
    <${Breadcrumb} place=${place} onNavigate=${onNavigate} />
    <p class="muted small">${overview.places.length} ${overview.level === 'district' ? 'districts' : overview.level === 'subdistrict' ? 'sub-districts' : 'grids'} ·
      worst state over every indicator at this level, last complete window
      (where it has no data yet: the current window so far, marked “so far”)
      ${next ? ' · select a tile to drill down' : ''}</p>
    <ul class="tiles" data-testid="tiles" data-level=${overview.level}>
      ${overview.places.map(
        (p) => html`<li key=${p.place}>
          <button type="button" class=${`tile state-${p.state}`} data-place=${p.place} data-state=${p.state} data-partial=${p.partial > 0 ? 'true' : undefined} disabled=${!next}
            onClick=${() => next && onNavigate(p.place)}
            aria-label=${`${leaf(p.place)}: ${STATE_LABEL[p.state]}${p.partial > 0 ? ' so far' : ''}${p.marks.length ? `, ${p.marks.map((m) => m.title).join('; ')}` : ''}`}>
            <span class="tile-name">${leaf(p.place)}</span>
            <span class="tile-state">${STATE_LABEL[p.state]}${p.partial > 0 ? html` <span class="tile-partial">so far</span>` : ''}</span>
            ${p.marks.slice(0, 2).map((m) => html`<span class="tile-mark">${m.indicator.replace(/_/g, ' ')} ${markText(m)}</span>`)}
          </button>
        </li>`,
      )}
    </ul>
    <${Legend} />
  </div>`;
}

function Legend() {
  return html`<ul class="legend" aria-label="Legend">
    ${['critical', 'warning', 'normal', 'no_data'].map((s) => html`<li><span class=${`swatch state-${s}`}></span>${STATE_LABEL[s]}</li>`)}
  </ul>`;
}
