import { describe, expect, it } from 'vitest';
import { linearScale } from '../src/charts/axis-scale.ts';
import { renderBarChart } from '../src/charts/bar-chart.ts';
import type { BarChart, LineChart } from '../src/charts/chart-spec.ts';
import { formatNumber, formatRatio } from '../src/charts/format-number.ts';
import { renderLineChart } from '../src/charts/line-chart.ts';
import { soakCharts } from '../src/charts/scenario-charts.ts';
import { findAll, parseXml, textOf } from './xml-tree.ts';

const bars: BarChart = {
  kind: 'bars',
  title: 'Broker <ours> & "mosquitto"',
  unit: 'batches/s',
  bars: [
    { label: 'cityops ingest', value: 3405.4, role: 'ours' },
    { label: "mosquitto's rate", value: 13442, role: 'peer' },
    { label: 'target', value: 0.5, role: 'target' },
  ],
};

const lines: LineChart = {
  kind: 'lines',
  title: 'RSS',
  unit: 'MiB',
  xLabel: 'time (s)',
  x: [0, 5, 10, 15],
  series: [
    { label: 'city', values: [1000, 1100.25, null, 1050] },
    { label: 'load & bench', values: [150, 151, 152, 150] },
  ],
  references: [{ label: 'target', value: 1024 }],
};

describe('formatNumber', () => {
  it('groups thousands and keeps few digits, without a locale', () => {
    expect([508112, 1180136.4, 20.25, 0.5271, 0.004, 0, -2500, 12].map(formatNumber)).toEqual(['508,112', '1,180,136', '20.3', '0.53', '0.004', '0', '-2,500', '12']);
    expect([0.43041989, 2.8446, 12.6].map(formatRatio)).toEqual(['0.43×', '2.84×', '13×']);
  });
});

describe('linearScale', () => {
  it('starts at zero and ends on a round tick', () => {
    const s = linearScale(131_074, 1_180_136);
    expect(s.ticks).toEqual([0, 500_000, 1_000_000, 1_500_000]);
    expect(s.position(750_000, 0, 300)).toBe(150);
    expect(linearScale(0, 0.3).ticks).toEqual([0, 0.1, 0.2, 0.3]);
  });

  it('ends at the data when tight', () => {
    const s = linearScale(5, 300.7, 8, true);
    expect(s.max).toBe(300.7);
    expect(s.ticks.at(-1)).toBe(300);
  });
});

describe('bar chart SVG', () => {
  const svg = renderBarChart(bars);
  const root = parseXml(svg);

  it('parses, is an accessible image and escapes its text', () => {
    expect(root.name).toBe('svg');
    expect(root.attrs.role).toBe('img');
    expect(textOf(findAll(root, 'title')[0]!)).toBe('Broker <ours> & "mosquitto"');
    expect(svg).toContain('Broker &lt;ours&gt; &amp; &quot;mosquitto&quot;');
    expect(svg).toContain('mosquitto&apos;s rate');
    expect(textOf(findAll(root, 'desc')[0]!)).toContain("mosquitto's rate (peer, same run): 13,442 batches/s");
  });

  it('draws one bar per figure in its role, labelled with formatted values, an axis with its unit and a legend', () => {
    const drawn = findAll(root, 'rect').filter((r) => r.attrs['data-role'] !== undefined);
    expect(drawn.map((r) => r.attrs['data-role'])).toEqual(['ours', 'peer', 'target']);
    expect(drawn[1]!.attrs.fill).not.toBe(drawn[0]!.attrs.fill);
    const texts = findAll(root, 'text').map(textOf);
    expect(texts).toEqual(expect.arrayContaining(['3,405', '13,442', '0.5', 'batches/s', 'cityops', 'peer, same run', 'target', '15,000']));
    // The longer bar is longer.
    expect(Number(drawn[1]!.attrs.width)).toBeGreaterThan(Number(drawn[0]!.attrs.width) * 3.5);
  });

  it('is deterministic', () => {
    expect(renderBarChart(bars)).toBe(svg);
  });

  it('refuses an empty chart', () => {
    expect(() => renderBarChart({ ...bars, bars: [] })).toThrow(/no bars/);
  });
});

describe('line chart SVG', () => {
  const svg = renderLineChart(lines);
  const root = parseXml(svg);

  it('draws each series as a path, broken where a sample is missing, and the target line', () => {
    const paths = findAll(root, 'path');
    expect(paths.map((p) => p.attrs['data-series'])).toEqual(['city', 'load & bench']);
    expect(paths[0]!.attrs.d!.match(/M/g)).toHaveLength(2); // the null starts a new piece
    expect(paths[1]!.attrs.d!.match(/M/g)).toHaveLength(1);
    expect(paths[1]!.attrs['stroke-dasharray']).toBeDefined(); // told apart without colour
    expect(findAll(root, 'line').filter((l) => l.attrs['data-reference'] === 'target')).toHaveLength(1);
  });

  it('labels both axes with units and lists every series in the legend', () => {
    const texts = findAll(root, 'text').map(textOf);
    expect(texts).toEqual(expect.arrayContaining(['MiB', 'time (s)', 'city', 'load & bench', 'target: 1,024 MiB', '1,000', '14']));
    expect(svg).toContain('load &amp; bench');
    expect(renderLineChart(lines)).toBe(svg);
  });

  it('refuses a series whose length differs from x', () => {
    expect(() => renderLineChart({ ...lines, series: [{ label: 'short', values: [1] }] })).toThrow(/1 values for 4 x/);
  });
});

describe('scenario charts', () => {
  it('draws the soak series from its samples and leaves out unmeasured ones', () => {
    const charts = soakCharts({
      figures: { city_rss_max_mib: 1291.4, city_rss_end_mib: 1222.9, offered_readings_per_second: 83_000 },
      samples: [
        { t_s: 5, ingested_per_s: 80_000, load_acked_per_s: 79_000, city_rss_mib: 1000, puback_p99_ms: -1, visible_p99_ms: 600 },
        { t_s: 10, ingested_per_s: 82_000, load_acked_per_s: 81_000, city_rss_mib: 1010, puback_p99_ms: 70, visible_p99_ms: 700 },
      ],
    });
    expect(charts.map((c) => c.kind)).toEqual(['bars', 'lines', 'lines', 'lines']);
    const latency = charts[3] as LineChart;
    expect(latency.series[0]!.values).toEqual([null, 70]);
    const memory = charts[2] as LineChart;
    expect(memory.series.map((s) => s.label)).toEqual(['cityops up (the city)']); // no heap, load or bench samples here
  });
});
