import { MetricNames } from '@inventory-cdc/shared';
import {
  dashboardExpressions,
  evaluableExpression,
  exportedMetricNames,
  metricNamesIn,
  metricNamesInVariableQuery,
  ruleExpressions,
} from './observability-queries';

describe('metricNamesIn', () => {
  it.each([
    ['a bare selector', 'up', ['up']],
    ['label matchers and a range', 'rate(cdc_errors_total{kind="slot_lost", job=~"a|b"}[5m])', ['cdc_errors_total']],
    [
      'an aggregation with a leading `by` list',
      'histogram_quantile(0.99, sum by (shard, le) (rate(cdc_reader_source_to_kafka_lag_seconds_bucket[$__rate_interval])))',
      ['cdc_reader_source_to_kafka_lag_seconds_bucket'],
    ],
    ['an aggregation with a trailing `without` list', 'sum(rate(a_total[1m])) without (instance)', ['a_total']],
    [
      'binary operators, numbers and keywords',
      'max by (sink) (x) > 2 * 1e9 and on (sink) group_left (topic) y or bool z offset 5m',
      ['x', 'y', 'z'],
    ],
    [
      'Grafana variables inside matchers and ranges',
      'cdc_reader_leader{shard="$shard"}[${__range}] / on() vector(1)',
      ['cdc_reader_leader'],
    ],
    ['strings with braces and quotes', 'label_replace(m, "dst", "}{\\"", "src", "(.*)")', ['m']],
    ['a subquery', 'max_over_time(rate(n_total[1m])[10m:1m])', ['n_total']],
    ['a comment', 'o # not_a_metric here\n+ p', ['o', 'p']],
    ['a topk', 'topk(5, sum by (topic, partition) (cdc_sink_consumer_lag_seconds))', ['cdc_sink_consumer_lag_seconds']],
  ])('%s', (_name, expression, names) => {
    expect(metricNamesIn(expression).sort()).toEqual([...names].sort());
  });
});

describe('metricNamesInVariableQuery', () => {
  it.each([
    ['label_values with a selector', 'label_values(cdc_reader_leader{job="wal-reader"}, shard)', ['cdc_reader_leader']],
    ['label_values of a label only', 'label_values(shard)', []],
    ['query_result', 'query_result(topk(3, rate(cdc_sink_applied_total[5m])))', ['cdc_sink_applied_total']],
    ['a plain expression', 'max(cdc_sink_consumer_lag_seconds)', ['cdc_sink_consumer_lag_seconds']],
  ])('%s', (_name, query, names) => {
    expect(metricNamesInVariableQuery(query)).toEqual(names);
  });
});

describe('exportedMetricNames', () => {
  it('takes sample names and the sample names of declared families without samples', () => {
    const exposition = [
      '# HELP cdc_worker_ready Ready',
      '# TYPE cdc_worker_ready gauge',
      'cdc_worker_ready{service="s"} 1',
      '# TYPE cdc_sink_dead_lettered_total counter',
      '# TYPE cdc_sink_commit_to_applied_seconds histogram',
      '# TYPE nodejs_gc summary',
      'process_cpu_seconds_total 0.5',
    ].join('\n');
    expect([...exportedMetricNames(exposition)].sort()).toEqual(
      [
        'cdc_worker_ready',
        'cdc_sink_dead_lettered_total',
        'cdc_sink_commit_to_applied_seconds_bucket',
        'cdc_sink_commit_to_applied_seconds_sum',
        'cdc_sink_commit_to_applied_seconds_count',
        'nodejs_gc',
        'nodejs_gc_sum',
        'nodejs_gc_count',
        'process_cpu_seconds_total',
      ].sort(),
    );
  });
});

describe('the dashboards and alert rules', () => {
  it('read only fleet metrics declared in MetricNames (besides process, Node.js and Prometheus metrics)', () => {
    const declared = new Set<string>(Object.values(MetricNames));
    const expressions = [...dashboardExpressions(), ...ruleExpressions()];
    const undeclared = expressions.flatMap(({ source, names }) =>
      names
        .filter((name) => name.startsWith('cdc_'))
        .filter((name) => !declared.has(name.replace(/_(bucket|sum|count)$/, '')))
        .map((name) => `${source}: ${name}`),
    );
    expect(expressions.length).toBeGreaterThan(20);
    expect(undeclared).toEqual([]);
  });
});

describe('evaluableExpression', () => {
  it.each([
    [
      'a comparison keeps every series as 0/1',
      'max by (sink) (cdc_sink_circuit_state) == 2',
      'max by (sink) (cdc_sink_circuit_state) == bool 2',
    ],
    [
      'both sides of `and`, never a matcher’s `=~` or `!=`',
      'time() - max(x{job=~"a|b", kind!="c"}) > 3600 and max(x) > 0',
      'time() - max(x{job=~"a|b", kind!="c"}) > bool 3600 and max(x) > bool 0',
    ],
    ['an existing bool stays single', 'a >= bool 1', 'a >= bool 1'],
    [
      'Grafana variables take values that select the live fleet',
      'sum by (sink) (rate(cdc_sink_applied_total{sink=~"$sink", shard="${shard}"}[$__rate_interval]))',
      'sum by (sink) (rate(cdc_sink_applied_total{sink=~".+", shard="0"}[1m]))',
    ],
    [
      'a variable’s label_values becomes its selector',
      'label_values(cdc_reader_leader{job="wal-reader"}, shard)',
      'cdc_reader_leader{job="wal-reader"}',
    ],
  ])('%s', (_name, expression, evaluable) => {
    expect(evaluableExpression(expression)).toBe(evaluable);
  });

  it('makes every dashboard and rule expression free of Grafana variables', () => {
    const left = [...dashboardExpressions(), ...ruleExpressions()]
      .map(({ source, expression }) => ({ source, evaluable: evaluableExpression(expression) }))
      .filter(({ evaluable }) => evaluable.includes('$'));
    expect(left).toEqual([]);
  });
});
