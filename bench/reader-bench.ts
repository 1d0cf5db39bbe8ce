import { WorkerProcess, scrapeMetric, waitFor } from '@inventory-cdc/shared/testing';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { sqlIdentifier } from '@inventory-cdc/shared';
import { Client } from 'pg';
import { stackUp } from '../deploy/local/stack';
import { postgresBinDir } from '../deploy/local/stack-postgres';
import { median, printTable, saveResults } from './bench-report';

/** One backlog shape: what each shard's WAL holds before the readers start. */
export interface ReaderWorkload {
  name: string;
  shards: number;
  /** Single-row update transactions per shard (pgbench, `clients` at once). */
  singleTransactions: number;
  /** Rows inserted per shard in large transactions. */
  bulkRows: number;
  /** Rows per large transaction. */
  bulkTransactionRows: number;
  clients: number;
}

export interface ReaderBenchOptions {
  runs: number;
  workloads: ReaderWorkload[];
}

interface ShardBacklog {
  shard: { id: number; host: string; port: number; url: string; database: string; user: string };
  schema: string;
  readerSlot: string;
  recvSlot: string;
  publication: string;
  endLsn: string;
  events: number;
  /** Postgres transactions in the backlog. */
  transactions: number;
}

/**
 * Reader vs `pg_recvlogical` on the same WAL: two slots are created at the same point before the backlog is
 * written, so both decode exactly the same transactions. pg_recvlogical (pgoutput to /dev/null) is the
 * ceiling of a slot; the reader does the same decoding plus Avro encoding and Kafka transactions.
 */
export async function readerBench(options: ReaderBenchOptions): Promise<void> {
  const stack = await stackUp({ shards: Math.max(...options.workloads.map((workload) => workload.shards)) });
  const bin = await postgresBinDir();
  for (const workload of options.workloads) {
    const runs: Record<string, number>[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const backlogs = await Promise.all(stack.shards.slice(0, workload.shards).map((shard) => writeBacklog(shard, run, workload, bin)));
      const recvSeconds = await timed(() => Promise.all(backlogs.map((backlog) => recvlogical(bin, backlog))));
      const reader = await runReaders(backlogs, stack.kafkaBrokers, stack.registryUrl);
      const events = backlogs.reduce((sum, backlog) => sum + backlog.events, 0);
      runs.push({
        run,
        shards: workload.shards,
        events,
        'events produced': reader.eventsProduced,
        'pg_recvlogical s': recvSeconds,
        'reader s': reader.seconds,
        'reader s from start': reader.secondsFromStart,
        'pg_recvlogical ev/s': Math.round(events / recvSeconds),
        'reader ev/s': Math.round(events / reader.seconds),
        ratio: recvSeconds / reader.seconds,
        'ratio from start': recvSeconds / reader.secondsFromStart,
        'reader CPU s': reader.cpuSeconds,
        'Kafka transactions': reader.kafkaTransactions,
        'reader peak RSS MiB': Math.round(reader.peakRssBytes / 2 ** 20),
      });
      if (reader.eventsProduced !== events)
        process.stdout.write(`run ${run}: the readers produced ${reader.eventsProduced} events for a backlog of ${events}\n`);
      await Promise.all(backlogs.map(cleanup));
    }
    printTable(`reader vs pg_recvlogical, ${workload.name} (same slot contents, all shards in parallel)`, runs);
    const summary = Object.fromEntries(
      ['pg_recvlogical ev/s', 'reader ev/s', 'ratio', 'ratio from start', 'reader CPU s', 'reader peak RSS MiB'].map((key) => [
        key,
        median(runs.map((row) => row[key]!)),
      ]),
    );
    printTable(`${workload.name}: medians of ${runs.length} runs`, [summary]);
    process.stdout.write(`results: ${saveResults(`reader-${workload.name}`, { workload, runs, medians: summary })}\n`);
  }
}

async function writeBacklog(shard: ShardBacklog['shard'], run: number, options: ReaderWorkload, bin: string): Promise<ShardBacklog> {
  const schema = `bench_reader_${Date.now().toString(36)}_${shard.id}`;
  const client = new Client({ connectionString: shard.url });
  await client.connect();
  try {
    const seedRows = 10_000;
    const table = `${sqlIdentifier(schema)}.t`;
    await client.query(
      `create schema ${sqlIdentifier(schema)}; create table ${table} (id int4 primary key, v int4 not null, label text not null)`,
    );
    await client.query(`insert into ${table} select g, 0, md5(g::text) from generate_series(1, ${seedRows}) g`);
    const publication = `${schema}_pub`;
    await client.query(`create publication ${sqlIdentifier(publication)} for table ${table}`);
    const readerSlot = `${schema}_reader`;
    const recvSlot = `${schema}_recv`;
    await client.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [readerSlot]);
    await client.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [recvSlot]);

    const script = join(tmpdir(), `${schema}.pgbench.sql`);
    writeFileSync(script, `\\set id random(1, ${seedRows})\nupdate ${table} set v = v + 1 where id = :id;\n`);
    const clients = options.clients;
    if (options.singleTransactions > 0)
      await execute(join(bin, 'pgbench'), [
        '-n',
        '-h',
        shard.host,
        '-p',
        String(shard.port),
        '-U',
        shard.user,
        '-c',
        String(clients),
        '-j',
        '2',
        '-t',
        String(Math.ceil(options.singleTransactions / clients)),
        '-f',
        script,
        shard.database,
      ]);
    for (let first = 1; first <= options.bulkRows; first += options.bulkTransactionRows) {
      const last = Math.min(options.bulkRows, first + options.bulkTransactionRows - 1);
      await client.query(`insert into ${table} select ${seedRows} + g, 0, md5(g::text) from generate_series(${first}, ${last}) g`);
    }
    const end = await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    const singles = options.singleTransactions > 0 ? Math.ceil(options.singleTransactions / clients) * clients : 0;
    const events = singles + options.bulkRows;
    const transactions = singles + Math.ceil(options.bulkRows / options.bulkTransactionRows);
    process.stdout.write(`${options.name} run ${run}, shard ${shard.id}: backlog of ${events.toLocaleString('en')} changes written\n`);
    return { shard, schema, readerSlot, recvSlot, publication, endLsn: end.rows[0]!.lsn, events, transactions };
  } finally {
    await client.end();
  }
}

function recvlogical(bin: string, backlog: ShardBacklog): Promise<void> {
  const { shard } = backlog;
  return execute(join(bin, 'pg_recvlogical'), [
    '-h',
    shard.host,
    '-p',
    String(shard.port),
    '-U',
    shard.user,
    '-d',
    shard.database,
    '--slot',
    backlog.recvSlot,
    '--start',
    '--endpos',
    backlog.endLsn,
    '--no-loop',
    '-f',
    '/dev/null',
    '-o',
    'proto_version=1',
    '-o',
    `publication_names=${backlog.publication}`,
  ]);
}

/**
 * Starts one reader per shard; times from its first Kafka commit (and from its process start) to its last
 * backlog transaction committed in Kafka.
 */
async function runReaders(
  backlogs: ShardBacklog[],
  brokers: string[],
  registryUrl: string,
): Promise<{
  seconds: number;
  secondsFromStart: number;
  cpuSeconds: number;
  peakRssBytes: number;
  eventsProduced: number;
  kafkaTransactions: number;
}> {
  const readers = backlogs.map((backlog, index) => {
    const port = 19300 + index;
    const worker = benchReader({
      name: `bench-reader-${backlog.schema}`,
      port,
      shard: backlog.shard,
      schema: backlog.schema,
      slot: backlog.readerSlot,
      publication: backlog.publication,
      brokers,
      registryUrl,
    });
    const startedAt = Date.now();
    worker.start();
    return { worker, port, backlog, startedAt };
  });
  const timings = await Promise.all(
    readers.map(async ({ worker, port, backlog, startedAt }) => {
      const firstEventAt = await waitFor(
        'the first event',
        async () => ((await scrapeMetric(port, 'cdc_reader_transactions_total').catch(() => 0)) ?? 0) > 0 && Date.now(),
        120_000,
        100,
      );
      // Polled every 100 ms: each poll renders the reader's /metrics, which costs it CPU a Prometheus scraping
      // every 15 s would not. Done when every backlog transaction is committed in Kafka (and so acknowledged to the slot). The
      // slot's confirmed position itself only reaches the backlog's end LSN at the next heartbeat message
      // (up to heartbeat.intervalMs later), which would time the heartbeat, not the reader.
      const doneAt = await waitFor(
        'the reader to commit the backlog into Kafka',
        async () => ((await scrapeMetric(port, 'cdc_reader_transactions_total').catch(() => 0)) ?? 0) >= backlog.transactions && Date.now(),
        600_000,
        100,
      );
      const status = readFileSync(`/proc/${worker.pid}/status`, 'utf8');
      const peak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      const cpuSeconds = processCpuSeconds(worker.pid!);
      const events = (await scrapeMetric(port, 'cdc_reader_events_total').catch(() => 0)) ?? 0;
      const kafkaTransactions = (await scrapeMetric(port, 'cdc_reader_kafka_transaction_duration_seconds_count').catch(() => 0)) ?? 0;
      await worker.terminate();
      return {
        seconds: (doneAt - firstEventAt) / 1000,
        fromStart: (doneAt - startedAt) / 1000,
        peak,
        cpuSeconds,
        events,
        kafkaTransactions,
      };
    }),
  );
  return {
    seconds: Math.max(...timings.map((timing) => timing.seconds)),
    secondsFromStart: Math.max(...timings.map((timing) => timing.fromStart)),
    cpuSeconds: timings.reduce((sum, timing) => sum + timing.cpuSeconds, 0),
    peakRssBytes: Math.max(...timings.map((timing) => timing.peak)),
    eventsProduced: timings.reduce((sum, timing) => sum + timing.events, 0),
    kafkaTransactions: timings.reduce((sum, timing) => sum + timing.kafkaTransactions, 0),
  };
}

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat, in clock ticks of 1/100 s). */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * A wal-reader streaming one bench table (`<schema>.t`) from a slot made before its backlog, with no
 * snapshot and its own topic prefix.
 */
export function benchReader(options: {
  name: string;
  port: number;
  shard: ShardBacklog['shard'];
  schema: string;
  slot: string;
  publication: string;
  brokers: string[];
  registryUrl: string;
}): WorkerProcess {
  const { shard } = options;
  return new WorkerProcess(
    'wal-reader',
    {
      CDC__SERVICE_NAME: options.name,
      CDC__LOG__LEVEL: 'warn',
      CDC__HTTP__PORT: String(options.port),
      CDC__KAFKA__BROKERS: options.brokers.join(','),
      CDC__REGISTRY__URL: options.registryUrl,
      CDC__SHARD__ID: String(shard.id),
      CDC__SHARD__CONNECTION__HOST: shard.host,
      CDC__SHARD__CONNECTION__PORT: String(shard.port),
      CDC__SHARD__CONNECTION__DATABASE: shard.database,
      CDC__SHARD__CONNECTION__USER: shard.user,
      CDC__CAPTURE__TABLES: `[${options.schema}.t]`,
      CDC__CAPTURE__SLOT_NAME: options.slot,
      CDC__CAPTURE__PUBLICATION_NAME: options.publication,
      CDC__SNAPSHOT__MODE: 'never',
      CDC__TOPICS__PREFIX: options.schema,
    },
    options.name,
    'bench-logs',
  );
}

async function cleanup(backlog: ShardBacklog): Promise<void> {
  const client = new Client({ connectionString: backlog.shard.url });
  await client.connect();
  await client.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = any($1) and not active`, [
    [backlog.readerSlot, backlog.recvSlot],
  ]);
  await client.query(
    `drop publication if exists ${sqlIdentifier(backlog.publication)}; drop schema ${sqlIdentifier(backlog.schema)} cascade`,
  );
  await client.end();
}

async function timed(task: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await task();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function execute(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${file} exited ${code}: ${stderr.slice(-500)}`))));
  });
}
