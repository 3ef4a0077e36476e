/** Series over time (one unit, one y axis), with optional target lines, as SVG. */
import { linearScale } from './axis-scale.ts';
import type { LineChart } from './chart-spec.ts';
import { CHAR_WIDTH, GRID, MUTED_INK, REFERENCE_STROKE, SERIES_STYLE } from './chart-style.ts';
import { formatNumber } from './format-number.ts';
import { svgDocument } from './svg-document.ts';
import { element, escapeXml, px, text } from './svg-markup.ts';

const MARGIN = 16;
const WIDTH = 760;
const PLOT_HEIGHT = 240;
const LEGEND_ROW = 22;

interface Stroke {
  readonly stroke: string;
  readonly dash?: string;
}

function seriesStyle(i: number): Stroke {
  return SERIES_STYLE[i % SERIES_STYLE.length]!;
}

const REFERENCE_DASH = '6 4';

/** Legend entries (a line sample in the series' colour and dash), wrapped over rows; returns the rows used. */
function legend(entries: readonly (Stroke & { label: string })[], top: number): { markup: string[]; rows: number } {
  const markup: string[] = [];
  let x = MARGIN;
  let row = 0;
  entries.forEach(({ label, ...s }) => {
    const w = 30 + label.length * CHAR_WIDTH + 24;
    if (x > MARGIN && x + w > WIDTH - MARGIN) {
      x = MARGIN;
      row++;
    }
    const y = top + row * LEGEND_ROW;
    markup.push(
      element('line', { x1: x, y1: y - 4, x2: x + 24, y2: y - 4, stroke: s.stroke, 'stroke-width': 2.5, 'stroke-dasharray': s.dash }),
      text({ x: x + 30, y }, label),
    );
    x += w;
  });
  return { markup, rows: row + 1 };
}

/** `M x y L x y …`, starting a new piece after each missing value. */
function pathData(points: readonly ({ x: number; y: number } | null)[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : d === '' ? 'M' : ' M'}${px(p.x)} ${px(p.y)}`;
    pen = true;
  }
  return d;
}

export function renderLineChart(chart: LineChart): string {
  if (chart.x.length === 0 || chart.series.length === 0) throw new Error(`line chart "${chart.title}" has no data`);
  for (const s of chart.series) {
    if (s.values.length !== chart.x.length) throw new Error(`line chart "${chart.title}": series "${s.label}" has ${s.values.length} values for ${chart.x.length} x`);
  }
  const references = chart.references ?? [];
  const ys = [...chart.series.flatMap((s) => s.values.filter((v): v is number => v !== null)), ...references.map((r) => r.value)];
  const yScale = linearScale(Math.min(...ys), Math.max(...ys));
  const xScale = linearScale(Math.min(...chart.x), Math.max(...chart.x), 8, true);
  const entries = [
    ...chart.series.map((s, i) => ({ label: s.label, ...seriesStyle(i) })),
    ...references.map((r) => ({ label: `${r.label}: ${formatNumber(r.value)} ${chart.unit}`, stroke: REFERENCE_STROKE, dash: REFERENCE_DASH })),
  ];
  const { markup: legendMarkup, rows } = legend(entries, 52);
  const top = 52 + rows * LEGEND_ROW + 8;
  const tickWidth = Math.max(...yScale.ticks.map((t) => formatNumber(t).length)) * CHAR_WIDTH;
  const left = MARGIN + 22 + tickWidth + 8;
  const right = WIDTH - MARGIN - 8;
  const bottom = top + PLOT_HEIGHT;
  const height = bottom + 56;
  const xAt = (v: number) => xScale.position(v, left, right);
  const yAt = (v: number) => yScale.position(v, bottom, top);

  const body: string[] = [...legendMarkup];
  for (const t of yScale.ticks) {
    body.push(
      element('line', { x1: left, y1: yAt(t), x2: right, y2: yAt(t), stroke: GRID }),
      text({ x: left - 6, y: yAt(t) + 4, 'text-anchor': 'end', fill: MUTED_INK }, formatNumber(t)),
    );
  }
  for (const t of xScale.ticks) {
    body.push(
      element('line', { x1: xAt(t), y1: bottom, x2: xAt(t), y2: bottom + 5, stroke: MUTED_INK }),
      text({ x: xAt(t), y: bottom + 20, 'text-anchor': 'middle', fill: MUTED_INK }, formatNumber(t)),
    );
  }
  body.push(
    element('line', { x1: left, y1: bottom, x2: right, y2: bottom, stroke: MUTED_INK }),
    element('line', { x1: left, y1: top, x2: left, y2: bottom, stroke: MUTED_INK }),
    text({ x: (left + right) / 2, y: bottom + 44, 'text-anchor': 'middle' }, chart.xLabel),
    text({ x: MARGIN + 12, y: (top + bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 ${px(MARGIN + 12)} ${px((top + bottom) / 2)})` }, chart.unit),
  );
  for (const r of references) {
    body.push(element('line', { x1: left, y1: yAt(r.value), x2: right, y2: yAt(r.value), stroke: REFERENCE_STROKE, 'stroke-width': 1.5, 'stroke-dasharray': REFERENCE_DASH, 'data-reference': r.label }));
  }
  chart.series.forEach((s, i) => {
    const style = seriesStyle(i);
    const points = s.values.map((v, j) => (v === null ? null : { x: xAt(chart.x[j]!), y: yAt(v) }));
    body.push(
      element(
        'path',
        { d: pathData(points), fill: 'none', stroke: style.stroke, 'stroke-width': 2, 'stroke-dasharray': style.dash, 'stroke-linejoin': 'round', 'data-series': s.label },
        `<title>${escapeXml(s.label)}</title>`,
      ),
    );
  });
  const summary = chart.series.map((s) => {
    const v = s.values.filter((x): x is number => x !== null);
    return v.length === 0 ? `${s.label}: no samples` : `${s.label}: ${formatNumber(Math.min(...v))} to ${formatNumber(Math.max(...v))} ${chart.unit}`;
  });
  return svgDocument({
    width: WIDTH,
    height,
    title: chart.title,
    description: `${[...summary, ...references.map((r) => `${r.label}: ${formatNumber(r.value)} ${chart.unit}`)].join('; ')}; ${chart.xLabel} ${formatNumber(Math.min(...chart.x))} to ${formatNumber(Math.max(...chart.x))}`,
    body,
  });
}
