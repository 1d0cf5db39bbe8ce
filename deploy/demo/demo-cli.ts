import { AvroCodec, createKafka, createRegistryClient, createLogger } from '@inventory-cdc/shared';
import { Client } from 'pg';
import { stackUp } from '../local/stack';
import { WorkerProcess, inventoryDdl, readTopics, shardOf } from '@inventory-cdc/shared/testing';

/**
 * `npm run demo`: the local stack, the inventory schema on every shard, one wal-reader per shard, a burst
 * of stock changes, and the change events counted back from Kafka (read_committed) per shard and op.
 * Options: --keep (leave the readers running), --shards N, --skus N.
 */
async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  say(`stack: starting (${args.shards} shards)…`);
  const stack = await stackUp({ shards: args.shards, log: (line) => say(`  ${line}`) });
  const shards = stack.shards.slice(0, args.shards);
  const prefix = `demo_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;

  const clients = await Promise.all(
    shards.map(async (shard) => {
      const client = new Client({ connectionString: shard.url });
      await client.connect();
      // Earlier demo runs' slots would hold WAL back forever: drop the idle ones, then start from a clean schema.
      await client.query(
        `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'cdc_demo_%' and not active`,
      );
      for (const row of (await client.query<{ pubname: string }>(`select pubname from pg_publication where pubname like 'cdc_demo_%'`))
        .rows) {
        await client.query(`drop publication ${row.pubname}`);
      }
      await client.query('drop schema if exists inventory cascade');
      await client.query(inventoryDdl('inventory'));
      return client;
    }),
  );

  const skus = Array.from({ length: args.skus }, (_, i) => `SKU-${String(i).padStart(6, '0')}`);
  const warehouses = ['WH-A', 'WH-B', 'WH-C'];
  for (const [index, client] of clients.entries()) {
    const mine = skus.filter((sku) => shardOf(sku, shards.length) === index);
    await client.query(
      `insert into inventory.stock (sku, warehouse, on_hand) select s, w, 100 from unnest($1::text[]) s, unnest($2::text[]) w`,
      [mine, warehouses],
    );
  }
  say(`seeded ${skus.length} SKUs × ${warehouses.length} warehouses over ${shards.length} shards (they arrive as snapshot events)`);

  const readers = shards.map((shard, index) => {
    const port = 19100 + index;
    const worker = new WorkerProcess(
      'wal-reader',
      {
        CDC__SERVICE_NAME: `wal-reader-${shard.id}`,
        CDC__HTTP__PORT: String(port),
        CDC__KAFKA__BROKERS: stack.kafkaBrokers.join(','),
        CDC__REGISTRY__URL: stack.registryUrl,
        CDC__SHARD__ID: String(shard.id),
        CDC__SHARD__CONNECTION__HOST: shard.host,
        CDC__SHARD__CONNECTION__PORT: String(shard.port),
        CDC__SHARD__CONNECTION__DATABASE: shard.database,
        CDC__SHARD__CONNECTION__USER: shard.user,
        CDC__CAPTURE__SCHEMAS: '[inventory]',
        CDC__TOPICS__PREFIX: prefix,
      },
      `wal-reader-${shard.id}`,
      'demo-logs',
    );
    worker.start();
    return { worker, port, shard };
  });
  await Promise.all(readers.map((reader) => reader.worker.waitReady(reader.port, 120_000)));
  say(`wal-readers ready: ${readers.map((reader) => `shard ${reader.shard.id} → http://127.0.0.1:${reader.port}/metrics`).join(', ')}`);

  const updates = Math.min(2_000, skus.length);
  for (let i = 0; i < updates; i++) {
    const sku = skus[i % skus.length]!;
    const client = clients[shardOf(sku, shards.length)]!;
    await client.query(
      `update inventory.stock set on_hand = on_hand - 1, updated_at = now() where sku = $1 and warehouse = 'WH-A' and on_hand > 0`,
      [sku],
    );
  }
  say(`committed ${updates} stock decrements`);

  const expected = skus.length * warehouses.length + updates;
  const logger = createLogger({ service: 'demo', level: 'warn' });
  const kafka = createKafka(
    { brokers: stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
    'demo',
    logger,
  );
  const codec = new AvroCodec(createRegistryClient({ url: stack.registryUrl, compatibility: 'BACKWARD' }));
  const started = Date.now();
  const records = await readTopics(kafka, codec, [`${prefix}.inventory.stock`], (seen) => seen.length >= expected, 120_000);
  const counts = new Map<string, number>();
  for (const record of records) {
    const event = record.value as { op: string; source: { shard: number } } | null;
    if (!event) continue;
    const key = `shard ${event.source.shard} · ${event.op}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  say(`\nchange events on ${prefix}.inventory.stock (read_committed, ${((Date.now() - started) / 1000).toFixed(1)} s):`);
  for (const [key, count] of [...counts].sort()) say(`  ${key.padEnd(14)} ${count}`);
  const ok = records.length === expected;
  say(ok ? `all ${expected} changes arrived exactly once` : `expected ${expected} events, got ${records.length}`);
  say('\nnot yet part of the demo: the Redis, WMS and ERP sinks, the flash sale, the live view and the reconciliation report.');
  await codec.close();
  await Promise.all(clients.map((client) => client.end()));

  if (args.keep) {
    say(`--keep: readers stay up (pids ${readers.map((reader) => reader.worker.pid).join(', ')}); stop the stack with npm run stack:down`);
    return ok ? 0 : 1;
  }
  const codes = await Promise.all(readers.map((reader) => reader.worker.terminate()));
  say(`readers stopped (exit codes ${codes.join(', ')}); the stack stays up — npm run stack:down stops it`);
  return ok && codes.every((code) => code === 0) ? 0 : 1;
}

function parseArgs(argv: string[]): { keep: boolean; shards: number; skus: number } {
  const value = (name: string, fallback: number): number => {
    const index = argv.indexOf(name);
    if (index < 0) return fallback;
    const parsed = Number(argv[index + 1]);
    if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} needs a positive integer`);
    return parsed;
  };
  return { keep: argv.includes('--keep'), shards: value('--shards', 2), skus: value('--skus', 1_000) };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
