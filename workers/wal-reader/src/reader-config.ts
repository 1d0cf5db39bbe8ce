import { kafkaConfigSchema, postgresConnectionSchema, registryConfigSchema, workerConfigSchema } from '@inventory-cdc/shared';
import { z } from 'zod';

const identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)');
const qualifiedTable = z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, 'must be schema.table in lower case');

export const readerConfigSchema = workerConfigSchema
  .extend({
    kafka: kafkaConfigSchema,
    registry: registryConfigSchema,
    shard: z
      .object({
        /** The shard's number: part of every source position, the progress key and the transactional id. */
        id: z.number().int().min(0).max(0xffff),
        connection: postgresConnectionSchema,
      })
      .strict(),
    capture: z
      .object({
        /** Captured tables as `schema.table`. */
        tables: z.array(qualifiedTable).default([]),
        /** Captured schemas (every table in them, now and later). */
        schemas: z.array(identifier).default([]),
        /** Replication slot name. Default `cdc_<prefix>_shard<id>` (sanitised). */
        slotName: identifier.optional(),
        /** Publication name. Default the slot name. */
        publicationName: identifier.optional(),
      })
      .strict()
      .refine((capture) => capture.tables.length + capture.schemas.length > 0, { message: 'name at least one table or schema to capture' }),
    topics: z
      .object({
        /** Topic prefix: change topics are `<prefix>.<schema>.<table>`. */
        prefix: z.string().regex(/^[a-zA-Z0-9._-]+$/),
        /** Partitions of each change topic created by the reader. Default 12. */
        partitions: z.number().int().positive().default(12),
        /** Replication factor of topics created by the reader. Default 1 (the local stack); 3 in production. */
        replicationFactor: z.number().int().positive().default(1),
        /**
         * Records on `<prefix>.transactions` per Postgres transaction: `end` (default) one END record with
         * the event count per topic, enough to tell when a transaction is complete; `begin-end` also a BEGIN
         * record (a third more records for single-row transactions); `none`.
         */
        transactionBoundaries: z.enum(['begin-end', 'end', 'none']).default('end'),
      })
      .strict(),
    snapshot: z
      .object({
        /** `initial`: snapshot on first start; `never`: stream only; `when-needed`: also re-snapshot when the slot was lost. */
        mode: z.enum(['initial', 'never', 'when-needed']).default('initial'),
        /** Rows fetched per cursor round trip, and per Kafka transaction while snapshotting. Default 5000. */
        chunkRows: z.number().int().positive().default(5_000),
      })
      .strict()
      .default({}),
    batch: z
      .object({
        /** Most Postgres transactions grouped into one Kafka transaction. Default 1000. */
        maxTransactions: z.number().int().positive().default(1_000),
        /** Most bytes (keys + values) of whole small transactions grouped into one Kafka transaction. Default 8 MiB. */
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(8 * 1024 * 1024),
        /** Longest a committed Postgres transaction waits for others to share its Kafka transaction. Default 10 ms. */
        maxDelayMs: z.number().int().min(0).default(10),
        /** Events sent per produce request; a larger transaction is sent in such chunks. Default 2000. */
        chunkEvents: z.number().int().positive().default(2_000),
        /** Buffered bytes at which reading from the slot pauses until Kafka has taken them. Default 16 MiB. */
        maxBufferedBytes: z
          .number()
          .int()
          .positive()
          .default(16 * 1024 * 1024),
      })
      .strict()
      .default({}),
    kafkaTransaction: z
      .object({
        /** Kafka transaction timeout; must stay under the broker's transaction.max.timeout.ms. Default 300000 ms. */
        timeoutMs: z.number().int().positive().default(300_000),
      })
      .strict()
      .default({}),
    heartbeat: z
      .object({
        /** Interval of `pg_logical_emit_message` heartbeats; 0 disables them. Default 10000 ms. */
        intervalMs: z.number().int().min(0).default(10_000),
        /** Interval of standby status updates to Postgres; keep under half of wal_sender_timeout. Default 5000 ms. */
        statusIntervalMs: z.number().int().positive().default(5_000),
      })
      .strict()
      .default({}),
    standby: z
      .object({
        /** How often a standby reader tries to take the shard's leadership. Default 1000 ms. */
        pollIntervalMs: z.number().int().positive().default(1_000),
      })
      .strict()
      .default({}),
    slotMonitor: z
      .object({
        /** Interval of slot health and retained-WAL checks. Default 5000 ms. */
        intervalMs: z.number().int().positive().default(5_000),
      })
      .strict()
      .default({}),
  })
  .strict();

export type ReaderConfig = z.infer<typeof readerConfigSchema>;

/** Slot and publication names, defaulted from the prefix and shard when not configured. */
export function slotNamesOf(config: ReaderConfig): { slot: string; publication: string } {
  const slot = config.capture.slotName ?? `cdc_${config.topics.prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_shard${config.shard.id}`;
  return { slot, publication: config.capture.publicationName ?? slot };
}

/**
 * Internal topics of a shard's reader: the transaction boundaries (shared) and the shard's own progress
 * topic. Only this shard's transactional producer writes its progress topic, so once that producer has
 * fenced its predecessor no open transaction can hold the topic's end back while the progress is read.
 */
export function readerTopicsOf(prefix: string, shard: number): { transactions: string; progress: string } {
  return { transactions: `${prefix}.transactions`, progress: `${prefix}.internal.reader-progress.shard-${shard}` };
}

/** The change topic of one table, shared by all shards. */
export function changeTopicOf(prefix: string, schema: string, table: string): string {
  return `${prefix}.${schema}.${table}`;
}
