/** One chart of either kind → an SVG document. */
import { renderBarChart } from './bar-chart.ts';
import type { Chart } from './chart-spec.ts';
import { renderLineChart } from './line-chart.ts';

export function renderChart(chart: Chart): string {
  return chart.kind === 'bars' ? renderBarChart(chart) : renderLineChart(chart);
}
