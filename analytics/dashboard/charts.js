// Time-series charts (uPlot: small, fast, canvas, MIT), sized to their container.
/* global ResizeObserver */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './html.js';

const AXIS = { stroke: '#c8d0da', grid: { stroke: 'rgba(200,208,218,0.12)' }, ticks: { stroke: 'rgba(200,208,218,0.25)' } };

/**
 * A uPlot chart. `series`: [{ label, stroke, dash? }]; `data`: [xs (seconds), ...ys]. The chart is
 * built once and fed with setData; its width follows the container.
 */
export function Chart({ title, series, data, height = 200, testid }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const el = box.current;
    const opts = {
      width: Math.max(el.clientWidth, 200),
      height,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ ...AXIS }, { ...AXIS, size: 56 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: s.width ?? 2, dash: s.dash, points: { show: s.points ?? false, size: 6 }, spanGaps: false }))],
    };
    plot.current = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.current.setSize({ width: Math.max(el.clientWidth, 200), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current.destroy();
      plot.current = null;
    };
    // Rebuilt only when the series change; data flows through setData below.
  }, [series.map((s) => s.label).join('|'), height]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  const points = data[0]?.length ?? 0;
  return html`<figure class="chart" data-testid=${testid} data-points=${points}>
    <figcaption>${title}</figcaption>
    <div ref=${box} class="chart-box" role="img" aria-label=${`${title}: ${points} points`}></div>
  </figure>`;
}
