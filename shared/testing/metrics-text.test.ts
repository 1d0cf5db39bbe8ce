import { bucketsOf, bucketsSince, histogramQuantile, parsePrometheusText, sumOf } from './metrics-text';

const text = `# HELP cdc_sink_applied_total Change events applied
# TYPE cdc_sink_applied_total counter
cdc_sink_applied_total{sink="redis-cache",topic="t"} 40
cdc_sink_applied_total{sink="wms-adapter",topic="t"} 2
cdc_sink_commit_to_applied_seconds_bucket{le="0.1",sink="redis-cache"} 50
cdc_sink_commit_to_applied_seconds_bucket{le="0.5",sink="redis-cache"} 90
cdc_sink_commit_to_applied_seconds_bucket{le="+Inf",sink="redis-cache"} 100
cdc_sink_commit_to_applied_seconds_count{sink="redis-cache"} 100
process_resident_memory_bytes 123456
odd_label{detail="a \\"quoted\\" value"} 1
`;

describe('Prometheus text', () => {
  const samples = parsePrometheusText(text);

  it('parses names, labels (escapes included) and values, skipping comments', () => {
    expect(samples).toHaveLength(8);
    expect(samples[7]).toEqual({ name: 'odd_label', labels: { detail: 'a "quoted" value' }, value: 1 });
    expect(sumOf(samples, 'process_resident_memory_bytes')).toBe(123456);
  });

  it('sums the series matching a label subset, undefined when none', () => {
    expect(sumOf(samples, 'cdc_sink_applied_total')).toBe(42);
    expect(sumOf(samples, 'cdc_sink_applied_total', { sink: 'wms-adapter' })).toBe(2);
    expect(sumOf(samples, 'cdc_sink_applied_total', { sink: 'erp-adapter' })).toBeUndefined();
  });

  it('interpolates quantiles inside buckets like histogram_quantile', () => {
    const buckets = bucketsOf(samples, 'cdc_sink_commit_to_applied_seconds', { sink: 'redis-cache' });
    expect(buckets).toEqual([
      { le: 0.1, count: 50 },
      { le: 0.5, count: 90 },
      { le: Infinity, count: 100 },
    ]);
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.7, buckets)).toBeCloseTo(0.3);
    // Beyond the last finite bound: the bound itself, as Prometheus answers.
    expect(histogramQuantile(0.99, buckets)).toBe(0.5);
    expect(histogramQuantile(0.5, [])).toBeUndefined();
  });

  it('takes the observations between two scrapes', () => {
    const before = [
      { le: 0.1, count: 40 },
      { le: 0.5, count: 40 },
      { le: Infinity, count: 40 },
    ];
    const since = bucketsSince(bucketsOf(samples, 'cdc_sink_commit_to_applied_seconds'), before);
    expect(since).toEqual([
      { le: 0.1, count: 10 },
      { le: 0.5, count: 50 },
      { le: Infinity, count: 60 },
    ]);
    expect(histogramQuantile(0.5, since)).toBeCloseTo(0.1 + 0.4 * (20 / 40));
  });
});
