import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sqlIdentifier } from '@inventory-cdc/shared';
import { Client } from 'pg';
import { stackUp } from '../deploy/local/stack';
import { postgresBinDir } from '../deploy/local/stack-postgres';
import { printTable, saveResults } from './bench-report';
import { benchReader } from './reader-bench';

export interface SustainedBenchOptions {
  seconds: number;
  clients: number;
}

const sampleEveryMs = 5_000;
const readerPort = 19350;

/**
 * Does the reader keep up with what Postgres can commit here? A pgbench writer at full speed (one-row
 * UPDATE transactions, `clients` at once) for `seconds` on one shard while the reader streams; every 5 s
 * the slot's confirmed lag (current WAL position − confirmed_flush_lsn) is printed. The reader keeps up
 * when the lag stops growing once the stream has settled (after the first 10 s).
 */
export async function sustainedBench(options: SustainedBenchOptions): Promise<void> {
  const stack = await stackUp({ shards: 1 });
  const shard = stack.shards[0]!;
  const bin = await postgresBinDir();
  const schema = `bench_sustained_${Date.now().toString(36)}`;
  const control = new Client({ connectionString: shard.url });
  await control.connect();
  const rows = 10_000;
  const table = `${sqlIdentifier(schema)}.t`;
  await control.query(
    `create schema ${sqlIdentifier(schema)}; create table ${table} (id int4 primary key, v int4 not null, label text not null)`,
  );
  await control.query(`insert into ${table} select g, 0, md5(g::text) from generate_series(1, ${rows}) g`);
  await control.query(`create publication ${sqlIdentifier(`${schema}_pub`)} for table ${table}`);
  const slot = `${schema}_reader`;
  await control.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  const worker = benchReader({
    name: 'bench-sustained-reader',
    port: readerPort,
    shard,
    schema,
    slot,
    publication: `${schema}_pub`,
    brokers: stack.kafkaBrokers,
    registryUrl: stack.registryUrl,
  });
  worker.start();
  const samples: Record<string, number>[] = [];
  try {
    await worker.waitReady(readerPort);
    const script = join(tmpdir(), `${schema}.pgbench.sql`);
    writeFileSync(script, `\\set id random(1, ${rows})\nupdate ${table} set v = v + 1 where id = :id;\n`);
    const writer = pgbench(bin, shard, script, options);
    const started = Date.now();
    const startLsn = await walLsn(control);
    for (let elapsed = sampleEveryMs; elapsed <= options.seconds * 1000; elapsed += sampleEveryMs) {
      await sleep(started + elapsed - Date.now());
      const lag = await control.query<{ lag: string; written: string }>(
        `select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text as lag,
                pg_wal_lsn_diff(pg_current_wal_lsn(), $2::pg_lsn)::text as written
           from pg_replication_slots where slot_name = $1`,
        [slot, startLsn],
      );
      const row = lag.rows[0]!;
      samples.push({
        second: elapsed / 1000,
        'WAL written MiB': Number(row.written) / 2 ** 20,
        'confirmed lag KiB': Number(row.lag) / 1024,
      });
      process.stdout.write(
        `t=${elapsed / 1000}s  WAL written ${(Number(row.written) / 2 ** 20).toFixed(1)} MiB  confirmed lag ${(Number(row.lag) / 1024).toFixed(0)} KiB\n`,
      );
    }
    const transactions = await writer;
    printTable(`sustained: pgbench ${options.clients} clients for ${options.seconds} s on one shard, reader streaming`, samples);
    const settled = samples.filter((sample) => sample.second! > 10);
    const growth = lagSlopeKiBPerSecond(settled);
    const verdict = growth <= (0.01 * (settled.at(-1)!['WAL written MiB']! * 1024)) / options.seconds ? 'keeps up' : 'falls behind';
    process.stdout.write(
      `pgbench committed ${transactions.toLocaleString('en')} transactions (${Math.round(transactions / options.seconds).toLocaleString('en')} tx/s); ` +
        `confirmed lag after 10 s grows ${growth.toFixed(1)} KiB/s: the reader ${verdict}\n`,
    );
    process.stdout.write(
      `results: ${saveResults('sustained', { options, samples, transactions, lagGrowthKiBPerSecond: growth, verdict })}\n`,
    );
  } finally {
    await worker.terminate();
    await control.query(`select pg_drop_replication_slot($1)`, [slot]).catch(() => undefined);
    await control.query(`drop publication if exists ${sqlIdentifier(`${schema}_pub`)}; drop schema ${sqlIdentifier(schema)} cascade`);
    await control.end();
  }
}

/** Least-squares slope of the confirmed lag over time. */
function lagSlopeKiBPerSecond(samples: Record<string, number>[]): number {
  const xs = samples.map((sample) => sample.second!);
  const ys = samples.map((sample) => sample['confirmed lag KiB']!);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = ys.reduce((a, b) => a + b, 0) / ys.length;
  const numerator = xs.reduce((sum, x, index) => sum + (x - meanX) * (ys[index]! - meanY), 0);
  const denominator = xs.reduce((sum, x) => sum + (x - meanX) ** 2, 0);
  return denominator === 0 ? 0 : numerator / denominator;
}

async function walLsn(client: Client): Promise<string> {
  return (await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
}

/** Runs pgbench for the duration; resolves with the transactions it committed. */
function pgbench(
  bin: string,
  shard: { host: string; port: number; user: string; database: string },
  script: string,
  options: SustainedBenchOptions,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-n', '-h', shard.host, '-p', String(shard.port), '-U', shard.user, '-c', String(options.clients), '-j', '2'];
    const child = spawn(join(bin, 'pgbench'), [...args, '-T', String(options.seconds), '-f', script, shard.database], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const processed = /number of transactions actually processed: (\d+)/.exec(output);
      if (code === 0 && processed) resolve(Number(processed[1]));
      else reject(new Error(`pgbench exited ${code}: ${output.slice(-500)}`));
    });
  });
}
