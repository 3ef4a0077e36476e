import { describe, expect, it } from 'vitest';
import { metricByLabel } from '../src/prometheus-text.ts';

describe('metricByLabel', () => {
  it('gives a counter by the value of one label, wherever the label stands, summed over the other labels', () => {
    const text = [
      '# HELP cityops_ingest_dead_letters_total Payloads refused',
      '# TYPE cityops_ingest_dead_letters_total counter',
      'cityops_ingest_dead_letters_total{reason="decode"} 3',
      'cityops_ingest_dead_letters_total{transport="mqtt",reason="sensor_cap"} 99900',
      'cityops_ingest_dead_letters_total{reason="sensor_cap",transport="http"} 100',
      'cityops_ingest_dead_letters_total_other{reason="decode"} 7',
    ].join('\n');
    expect(metricByLabel(text, 'cityops_ingest_dead_letters_total', 'reason')).toEqual(new Map([['decode', 3], ['sensor_cap', 100_000]]));
    expect(metricByLabel(text, 'cityops_analytics_alerts', 'state').size).toBe(0);
  });
});
