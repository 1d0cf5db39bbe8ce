/**
 * Reading workers' `/metrics` from the outside (the demo's live view, the benchmarks, tests): the
 * Prometheus text format parsed into samples, sums over label sets, and quantiles from histogram buckets
 * computed the way Prometheus's `histogram_quantile` does (linear inside the bucket).
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One cumulative histogram bucket: `count` observations were ≤ `le`. */
export interface Bucket {
  le: number;
  count: number;
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = sampleLine.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(labelPair)) labels[pair[1]!] = pair[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Fetches and parses one `/metrics` endpoint; an unreachable worker gives no samples. */
export async function scrapeSamples(url: string, timeoutMs = 2_000): Promise<Sample[]> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok ? parsePrometheusText(await response.text()) : [];
  } catch {
    return [];
  }
}

function matches(sample: Sample, name: string, labels: Record<string, string>): boolean {
  return sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
}

/** Sum of every series of `name` whose labels include `labels`; undefined when there is none. */
export function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const sample of samples) if (matches(sample, name, labels)) sum = (sum ?? 0) + sample.value;
  return sum;
}

/** Largest value among the series of `name` whose labels include `labels`; undefined when there is none. */
export function maxOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  let max: number | undefined;
  for (const sample of samples) if (matches(sample, name, labels)) max = Math.max(max ?? -Infinity, sample.value);
  return max;
}

/** The buckets of histogram `name` (without `_bucket`), summed over every series matching `labels`. */
export function bucketsOf(samples: Sample[], name: string, labels: Record<string, string> = {}): Bucket[] {
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    if (!matches(sample, `${name}_bucket`, labels) || sample.labels.le === undefined) continue;
    const le = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + sample.value);
  }
  return [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** Observations made between two scrapes of the same histogram (counters only grow; a restart resets). */
export function bucketsSince(now: Bucket[], before: Bucket[]): Bucket[] {
  const earlier = new Map(before.map((bucket) => [bucket.le, bucket.count]));
  return now.map(({ le, count }) => ({ le, count: Math.max(0, count - (earlier.get(le) ?? 0)) }));
}

/**
 * The `q` quantile (0..1) of cumulative buckets, interpolated linearly inside the bucket it falls in,
 * as Prometheus's `histogram_quantile`. Falling into the +Inf bucket answers the highest finite bound.
 * Undefined without observations.
 */
export function histogramQuantile(q: number, buckets: Bucket[]): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      if (le === Infinity) return previousBound;
      if (count === previousCount) return le;
      return previousBound + ((le - previousBound) * (rank - previousCount)) / (count - previousCount);
    }
    previousBound = le;
    previousCount = count;
  }
  return previousBound;
}
