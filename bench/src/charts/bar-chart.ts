/** Horizontal bars comparing ours with a peer, a limit or a target, as SVG. */
import { linearScale } from './axis-scale.ts';
import type { BarChart, BarRole } from './chart-spec.ts';
import { CHAR_WIDTH, GRID, MUTED_INK, ROLE_STYLE } from './chart-style.ts';
import { formatNumber } from './format-number.ts';
import { svgDocument } from './svg-document.ts';
import { element, escapeXml, text } from './svg-markup.ts';

const MARGIN = 16;
const ROW = 30;
const BAR = 20;
const PLOT_WIDTH = 420;
const ROLES: readonly BarRole[] = ['ours', 'peer', 'limit', 'target'];

/** Legend swatches in one row, for the roles the chart uses. */
function legend(roles: readonly BarRole[], y: number): string[] {
  const out: string[] = [];
  let x = MARGIN;
  for (const role of roles) {
    const style = ROLE_STYLE[role];
    out.push(element('rect', { x, y: y - 11, width: 12, height: 12, fill: style.fill }), text({ x: x + 18, y }, style.legend));
    x += 18 + style.legend.length * CHAR_WIDTH + 24;
  }
  return out;
}

export function renderBarChart(chart: BarChart): string {
  if (chart.bars.length === 0) throw new Error(`bar chart "${chart.title}" has no bars`);
  const roles = ROLES.filter((r) => chart.bars.some((b) => b.role === r));
  const labelWidth = Math.max(...chart.bars.map((b) => b.label.length)) * CHAR_WIDTH + 12;
  const values = chart.bars.map((b) => b.value);
  const scale = linearScale(Math.min(...values), Math.max(...values));
  const valueWidth = Math.max(...[...values, ...scale.ticks].map((v) => formatNumber(v).length)) * CHAR_WIDTH + 16;
  const x0 = MARGIN + labelWidth;
  const x1 = x0 + PLOT_WIDTH;
  // Wide enough for the title too (bold text runs wider than CHAR_WIDTH).
  const width = Math.ceil(Math.max(x1 + valueWidth + MARGIN, chart.title.length * CHAR_WIDTH * 1.25 + 2 * MARGIN));
  const top = 72;
  const axisY = top + chart.bars.length * ROW;
  const height = axisY + 52;
  const at = (v: number) => scale.position(v, x0, x1);

  const body: string[] = [...legend(roles, 52)];
  for (const tick of scale.ticks) {
    body.push(
      element('line', { x1: at(tick), y1: top - 6, x2: at(tick), y2: axisY, stroke: GRID }),
      text({ x: at(tick), y: axisY + 18, 'text-anchor': 'middle', fill: MUTED_INK }, formatNumber(tick)),
    );
  }
  chart.bars.forEach((bar, i) => {
    const y = top + i * ROW;
    const from = at(Math.min(0, bar.value));
    const to = at(Math.max(0, bar.value));
    body.push(
      text({ x: x0 - 8, y: y + BAR / 2 + 4, 'text-anchor': 'end' }, bar.label),
      element(
        'rect',
        { x: from, y, width: Math.max(1, to - from), height: BAR, fill: ROLE_STYLE[bar.role].fill, 'data-role': bar.role },
        `<title>${escapeXml(`${bar.label}: ${formatNumber(bar.value)} ${chart.unit}`)}</title>`,
      ),
      text({ x: to + 6, y: y + BAR / 2 + 4 }, formatNumber(bar.value)),
    );
  });
  body.push(
    element('line', { x1: x0, y1: axisY, x2: x1, y2: axisY, stroke: MUTED_INK }),
    text({ x: (x0 + x1) / 2, y: axisY + 40, 'text-anchor': 'middle' }, chart.unit),
  );
  return svgDocument({
    width,
    height,
    title: chart.title,
    description: chart.bars.map((b) => `${b.label} (${ROLE_STYLE[b.role].legend}): ${formatNumber(b.value)} ${chart.unit}`).join('; '),
    body,
  });
}
