/**
 * What the dashboards and alert rules under deploy/ read from Prometheus, and what the workers export: the
 * metric names of PromQL expressions (a tokenizer, not a parser), the expressions of every dashboard panel,
 * template variable and rule, and the names a /metrics page offers.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

export const dashboardsDir = join(__dirname, 'grafana', 'dashboards');
export const rulesDir = join(__dirname, 'prometheus', 'rules');

/** Words that stand where a metric name could: operators, modifiers, aggregations (they may precede `by`). */
const keywords = new Set(
  [
    ['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2'],
    ['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile'],
    ['limitk', 'limit_ratio'],
  ].flat(),
);
/** Words followed by a parenthesised list of label names. */
const labelListKeywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** Index just past the closing `close` of the block opening at `start`, skipping quoted strings inside. */
function skipBlock(text: string, start: number, close: string): number {
  let index = start + 1;
  while (index < text.length && text[index] !== close) index = /["'`]/.test(text[index]!) ? skipString(text, index) : index + 1;
  return index + 1;
}

function skipString(text: string, start: number): number {
  const quote = text[start];
  let index = start + 1;
  while (index < text.length && text[index] !== quote) index += text[index] === '\\' ? 2 : 1;
  return index + 1;
}

/**
 * The metric names a PromQL expression selects: identifiers outside label matchers, ranges and strings that
 * are neither functions (followed by `(`), nor keywords, nor the label lists of `by (…)` and friends.
 * Grafana variables (`$__rate_interval`, `${shard}`) are dropped first.
 */
export function metricNamesIn(expression: string): string[] {
  const text = expression.replace(/\$\{[^}]*\}|\$\w+|\[\[\w+\]\]/g, '');
  const names = new Set<string>();
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    if (/["'`]/.test(char)) index = skipString(text, index);
    else if (char === '{') index = skipBlock(text, index, '}');
    else if (char === '[') index = skipBlock(text, index, ']');
    else if (char === '#') index = text.indexOf('\n', index) < 0 ? text.length : text.indexOf('\n', index);
    else if (/[0-9.]/.test(char)) index += /^[0-9.]+(e[+-]?[0-9]+)?[a-zA-Z0-9_]*/i.exec(text.slice(index))![0].length;
    else if (/[a-zA-Z_:]/.test(char)) {
      const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(text.slice(index))![0];
      index += word.length;
      const next = /^\s*/.exec(text.slice(index))![0].length + index;
      if (labelListKeywords.has(word)) {
        if (text[next] === '(') index = skipBlock(text, next, ')');
      } else if (text[next] !== '(' && !keywords.has(word)) names.add(word);
    } else index++;
  }
  return [...names];
}

/**
 * Metric names of a Grafana template variable query: `label_values(selector, label)` reads the selector's
 * metric, `label_values(label)`, `label_names()` and `metrics(regex)` none, `query_result(expr)` the expression's,
 * anything else is an expression.
 */
export function metricNamesInVariableQuery(query: string): string[] {
  const labelValues = /^\s*label_values\((.*)\)\s*$/s.exec(query);
  if (labelValues) {
    const args = labelValues[1]!;
    const lastComma = args.lastIndexOf(',');
    return lastComma < 0 ? [] : metricNamesIn(args.slice(0, lastComma));
  }
  const queryResult = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  if (queryResult) return metricNamesIn(queryResult[1]!);
  return /^\s*(label_names|metrics)\(/.test(query) ? [] : metricNamesIn(query);
}

/** One PromQL expression and where it comes from, for messages. */
export interface SourcedExpression {
  source: string;
  expression: string;
  names: string[];
}

interface Panel {
  title?: string;
  targets?: { expr?: string; refId?: string }[];
  panels?: Panel[];
}
export interface Dashboard {
  uid: string;
  title: string;
  panels?: Panel[];
  templating?: { list?: { name: string; type: string; query?: string | { query?: string } }[] };
}

export function readDashboards(): { file: string; dashboard: Dashboard }[] {
  return readdirSync(dashboardsDir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')) as Dashboard }));
}

/** Every panel (rows' nested panels included) of a dashboard. */
export function panelsOf(dashboard: { panels?: Panel[] }): Panel[] {
  return (dashboard.panels ?? []).flatMap((panel) => [panel, ...panelsOf(panel)]);
}

export function dashboardExpressions(): SourcedExpression[] {
  return readDashboards().flatMap(({ file, dashboard }) => [
    ...panelsOf(dashboard).flatMap((panel) =>
      (panel.targets ?? [])
        .filter((target) => target.expr)
        .map((target) => ({
          source: `${file}: panel "${panel.title ?? ''}" ${target.refId ?? ''}`,
          expression: target.expr!,
          names: metricNamesIn(target.expr!),
        })),
    ),
    ...(dashboard.templating?.list ?? [])
      .filter((variable) => variable.type === 'query')
      .map((variable) => {
        const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
        return { source: `${file}: variable ${variable.name}`, expression: query, names: metricNamesInVariableQuery(query) };
      }),
  ]);
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

export function ruleExpressions(): SourcedExpression[] {
  return readdirSync(rulesDir)
    .filter((file) => file.endsWith('.yml'))
    .flatMap((file) =>
      (YAML.parse(readFileSync(join(rulesDir, file), 'utf8')) as RuleFile).groups.flatMap((group) =>
        group.rules.map((rule) => ({
          source: `${file}: ${rule.alert ?? rule.record ?? ''}`,
          expression: rule.expr,
          names: metricNamesIn(rule.expr),
        })),
      ),
    );
}

/**
 * The metric names a Prometheus text exposition offers: every sample's name, and for each declared family
 * (`# TYPE`) the names its samples get, so a labelled family without samples yet still counts.
 */
export function exportedMetricNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (type) {
      const [, family, kind] = type as unknown as [string, string, string];
      const suffixes = kind === 'histogram' ? ['_bucket', '_sum', '_count'] : kind === 'summary' ? ['', '_sum', '_count'] : [''];
      for (const suffix of suffixes) names.add(family + suffix);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}

/** Values that make a dashboard's expression select a live fleet's series: every sink, shard 0, a 1 m rate window. */
const variableValues: Record<string, string> = { __rate_interval: '1m', __interval: '15s', sink: '.+', shard: '0' };

/**
 * A dashboard, variable or rule expression as Prometheus can evaluate it on its own, every series kept:
 * Grafana variables take `variableValues`; a variable's `label_values(selector, label)` becomes its
 * selector; and every comparison gets `bool`, so a rule's `x > 10` answers 0 or 1 for every series of
 * `x` instead of filtering (an alert's expression is empty while nothing is wrong).
 */
export function evaluableExpression(expression: string): string {
  const labelValues = /^\s*label_values\((.*)\)\s*$/s.exec(expression);
  const source = labelValues ? labelValues[1]!.slice(0, Math.max(0, labelValues[1]!.lastIndexOf(','))) : expression;
  const text = source.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced?: string, bare?: string) => variableValues[braced ?? bare ?? ''] ?? whole,
  );
  let out = '';
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    let end = index + 1;
    if (/["'`]/.test(char)) end = skipString(text, index);
    else if (char === '{') end = skipBlock(text, index, '}');
    else if (char === '[') end = skipBlock(text, index, ']');
    else {
      const comparison = /^(==|!=|>=|<=|>|<)/.exec(text.slice(index))?.[0];
      if (comparison) {
        end = index + comparison.length;
        const rest = text.slice(end);
        out += /^\s*bool\b/.test(rest) ? comparison : `${comparison} bool`;
        index = end;
        continue;
      }
    }
    out += text.slice(index, end);
    index = end;
  }
  return out.trim();
}
