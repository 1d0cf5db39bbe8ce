/**
 * A real Prometheus (Debian's `prometheus` package) on loopback, scraping a local fleet with the project's
 * alert rules loaded: what the compose stack's Prometheus does, for the demo (`--observe`) and the test
 * that evaluates every dashboard and alert expression against a live fleet.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';

const rulesDirectory = resolve(__dirname, '..', 'prometheus', 'rules');

/** One worker to scrape: `job` as in deploy/prometheus/prometheus.yml (the rules select on it). */
export interface ScrapeTarget {
  job: 'wal-reader' | 'redis-cache' | 'wms-adapter' | 'erp-adapter';
  /** `http://127.0.0.1:PORT` of the worker's HTTP server. */
  url: string;
  /** Extra target labels, e.g. the reader's `shard`. */
  labels?: Record<string, string>;
}

/**
 * The Prometheus config for `targets`: one scrape job per worker kind (readers keep their own `shard`
 * label, as in the compose config), every rule file of deploy/prometheus/rules. Pure.
 */
export function prometheusConfig(targets: ScrapeTarget[], ruleFiles: string[], scrapeIntervalSeconds: number): string {
  const jobs = [...new Set(targets.map((target) => target.job))];
  return YAML.stringify({
    global: {
      scrape_interval: `${scrapeIntervalSeconds}s`,
      scrape_timeout: `${scrapeIntervalSeconds}s`,
      evaluation_interval: `${scrapeIntervalSeconds}s`,
    },
    rule_files: ruleFiles,
    scrape_configs: jobs.map((job) => ({
      job_name: job,
      ...(job === 'wal-reader' ? { honor_labels: true } : {}),
      static_configs: targets
        .filter((target) => target.job === job)
        .map((target) => ({ targets: [new URL(target.url).host], ...(target.labels ? { labels: target.labels } : {}) })),
    })),
  });
}

/** The project's alert rule files, absolute. */
export function projectRuleFiles(): string[] {
  return readdirSync(rulesDirectory)
    .filter((file) => file.endsWith('.yml'))
    .map((file) => join(rulesDirectory, file));
}

/** The `prometheus` binary on PATH, or undefined. */
export function prometheusBinary(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || undefined : undefined;
}

export interface LocalPrometheusOptions {
  port: number;
  /** Its config, TSDB and log go here. */
  directory: string;
  targets: ScrapeTarget[];
  /** Default 1 s: a demo's figures follow the sale second by second. */
  scrapeIntervalSeconds?: number;
}

/** A running Prometheus; `stop()` ends it, `detach()` lets it outlive this process. */
export class LocalPrometheus {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(options: LocalPrometheusOptions): Promise<LocalPrometheus> {
    const binary = prometheusBinary();
    if (!binary) throw new Error('prometheus is not installed: apt-get install prometheus (Debian’s package)');
    mkdirSync(join(options.directory, 'data'), { recursive: true });
    const configFile = join(options.directory, 'prometheus.yml');
    writeFileSync(configFile, prometheusConfig(options.targets, projectRuleFiles(), options.scrapeIntervalSeconds ?? 1));
    const logFile = join(options.directory, 'prometheus.log');
    const log = openSync(logFile, 'a');
    const url = `http://127.0.0.1:${options.port}`;
    let child: ChildProcess;
    try {
      child = spawn(
        binary,
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(options.directory, 'data')}`,
          `--web.listen-address=127.0.0.1:${options.port}`,
          '--storage.tsdb.retention.time=1d',
        ],
        { stdio: ['ignore', log, log] },
      );
    } finally {
      closeSync(log);
    }
    const prometheus = new LocalPrometheus(child, url, logFile);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}; see ${logFile}`);
      const ready = await fetch(`${url}/-/ready`)
        .then((response) => response.ok)
        .catch(() => false);
      if (ready) return prometheus;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`prometheus not ready on ${url} within 30 s; see ${logFile}`);
      }
      await sleep(200);
    }
  }

  /** Evaluates `expression` now (`/api/v1/query`); answers the result's series. */
  async query(expression: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`${expression}: ${body.error ?? response.status}`);
    const result = body.data?.result;
    if (body.data?.resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
    return result as { metric: Record<string, string>; value: [number, string] }[];
  }

  detach(): void {
    this.child.unref();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolveExit) => this.child.once('exit', resolveExit));
    this.child.kill('SIGTERM');
    await exited;
  }
}
