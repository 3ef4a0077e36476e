// One indicator's series at the place the overview shows, with its warning and critical thresholds.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Chart } from './charts.js';
import { html } from './html.js';
import { leaf, num } from './format.js';

const HOUR = 3_600_000;
const SERIES = [
  // Points too: a window between two without data stands alone, and a line needs two.
  { label: 'value', stroke: '#7cc4ff', width: 2, points: true },
  { label: 'warning', stroke: '#ffcc33', dash: [6, 4], width: 1.5 },
  { label: 'critical', stroke: '#ff5c5c', dash: [6, 4], width: 1.5 },
  // The window still running, at the time it was read: a point apart, its value still moves.
  { label: 'so far', stroke: '#c8d0da', width: 2, points: true },
];
const EMPTY = [[], [], [], [], []];

function levelOf(place) {
  return ['city', 'district', 'subdistrict', 'grid', 'building'][place === '' ? 0 : place.split('/').length];
}

/** `tick` changes with every snapshot: the series is read again (one windowed query). */
export function IndicatorChart({ indicators, place, tick }) {
  const [name, setName] = useState('pm25_avg');
  const [state, setState] = useState({ data: EMPTY });
  const def = indicators.find((d) => d.name === name);
  const level = levelOf(place);
  const computed = def !== undefined && def.levels.includes(level);

  useEffect(() => {
    if (!computed) return;
    let live = true;
    api
      .series(name, level, place, Date.now() - HOUR)
      .then((r) => {
        if (!live) return;
        const xs = [];
        const ys = [];
        const now = [];
        for (const w of r.windows) {
          xs.push(w.to / 1000);
          ys.push(w.places[0]?.value ?? null);
          now.push(null);
        }
        // The API adds the current window (`current`, partial) when the series reaches now.
        const current = r.current?.places[0];
        if (current !== undefined) {
          xs.push(r.current.asOf / 1000);
          ys.push(null);
          now.push(current.value);
        }
        const t = r.indicator.thresholds ?? {};
        setState({
          unit: r.indicator.unit,
          current: current === undefined ? undefined : { value: current.value, samples: current.samples },
          data: [xs, ys, xs.map(() => t.warning ?? null), xs.map(() => t.critical ?? null), now],
        });
      })
      .catch((err) => live && setState({ error: err.message, data: EMPTY }));
    return () => {
      live = false;
    };
  }, [name, level, place, tick, computed]);

  return html`<div>
    <label class="field">Indicator
      <select value=${name} onChange=${(e) => setName(e.currentTarget.value)}>
        ${indicators.map((d) => html`<option value=${d.name}>${d.title}</option>`)}
      </select>
    </label>
    ${!computed
      ? html`<p class="muted">${def?.title ?? name} is not computed at ${level} level; drill into ${def?.levels.join(', ')}.</p>`
      : state.error
        ? html`<p role="alert" class="error">${state.error}</p>`
        : html`<${Chart} testid="indicator-chart" title=${`${def.title} — ${leaf(place)} (${state.unit ?? def.unit}; dashed: warning, critical${state.current ? `; last point: current window so far, ${state.current.samples ?? 0} samples` : ''})`} series=${SERIES} data=${state.data} />
          <p class="muted small" data-testid="indicator-current" data-samples=${state.current?.samples ?? undefined}>${state.current ? `Current window so far: ${num(state.current.value, 1)} ${state.unit ?? def.unit} over ${state.current.samples ?? 0} samples (partial).` : 'No reading yet in the current window.'}</p>`}
  </div>`;
}
