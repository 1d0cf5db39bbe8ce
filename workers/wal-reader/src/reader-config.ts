import { kafkaConfigSchema, postgresConnectionSchema, registryConfigSchema, slotNamesOf, workerConfigSchema } from '@inventory-cdc/shared';
import { z } from 'zod';

const identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)');
const qualifiedTable = z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, 'must be schema.table in lower case');

export const readerConfigSchema = workerConfigSchema
  .extend({
    kafka: kafkaConfigSchema,
    registry: registryConfigSchema
      .extend({
        /**
         * Per-subject compatibility rules that replace `compatibility` for those subjects, e.g.
         * `{"<prefix>.inventory.stock-value": NONE}`: the documented way past a refused schema change the
         * operator has decided to accept (see README, "A refused schema change"). Default none.
         */
        subjectCompatibility: z.record(registryConfigSchema.shape.compatibility.removeDefault()).default({}),
        /**
         * Before a Kafka commit, the ids of the records in it are confirmed with the registry unless it gave
         * or confirmed them this recently (ms); 0 asks at every commit. Keep it well below the time the
         * registry takes to restart. Default 1000.
         */
        confirmWithinMs: z.number().int().min(0).max(10_000).default(1_000),
      })
      .strict(),
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
         * Records on `<prefix>.transactions` per Postgres transaction (Debezium's transaction metadata):
         * `none` (default; no consumer of the fleet reads them, and a one-row transaction would cost twice the
         * records); `end` one END record with the event count per topic, enough to tell when a transaction
         * is complete; `begin-end` also a BEGIN record.
         */
        transactionBoundaries: z.enum(['begin-end', 'end', 'none']).default('none'),
      })
      .strict(),
    snapshot: z
      .object({
        /** `initial`: snapshot on first start; `never`: stream only; `when-needed`: also re-snapshot when the slot was lost. */
        mode: z.enum(['initial', 'never', 'when-needed']).default('initial'),
        /** Rows fetched per cursor round trip, and per Kafka transaction while snapshotting. Default 5000. */
        chunkRows: z.number().int().positive().default(5_000),
        /** Largest ad-hoc snapshot signal accepted, in bytes. Default 1024. */
        signalMaxBytes: z.number().int().positive().default(1024),
        /** Ad-hoc snapshot signals accepted per minute (each re-reads a table while the shard waits). Default 6. */
        signalsPerMinute: z.number().int().positive().default(6),
      })
      .strict()
      .default({}),
    /**
     * Group commit: a Kafka transaction is committed as soon as none is in flight; the Postgres transactions
     * that arrive meanwhile gather for the next one, up to these bounds (then the loop waits for the one in
     * flight). So a quiet shard commits each transaction at once and a busy one in large batches.
     */
    batch: z
      .object({
        /**
         * Most Postgres transactions grouped into one Kafka transaction. Default 10000: under load a batch
         * gathers while the previous Kafka commit is in flight, and a cap below what arrives meanwhile makes
         * the loop wait instead of decode (2000 measured 51 Kafka transactions and 13.7 s for 100,000 one-row
         * transactions, 20000 six and 5.5 s). A batch's records outlive the young generation's collections,
         * so its size also sets how far the heap grows between full collections: on 200,000 one-row
         * transactions 20000 peaked at 270–279 MiB RSS, 10000 at 234–251 MiB for the same CPU time.
         */
        maxTransactions: z.number().int().positive().default(10_000),
        /** Most bytes (keys + values) of whole small transactions grouped into one Kafka transaction. Default 4 MiB. */
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
        /** Records of a large transaction handed on together (its parts, to bound memory). Default 2000. */
        chunkEvents: z.number().int().positive().default(2_000),
        /** Received bytes (heap estimate) not yet handled at which reading from the slot pauses. Default 4 MiB. */
        maxBufferedBytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
        /**
         * Record bytes per produce request; a large transaction is sent in such requests as it arrives. Must
         * stay under the broker's `message.max.bytes` (1 MiB by default), since a topic may have one
         * partition. Default 512 KiB.
         */
        maxRequestBytes: z
          .number()
          .int()
          .positive()
          .default(512 * 1024),
        /**
         * Largest encoded change (key + value) the brokers accept: Kafka's `message.max.bytes` is 1 MiB by
         * default, less the record batch overhead. A larger change halts the shard naming the table, instead
         * of failing on every retry. Default 1000000.
         */
        maxRecordBytes: z.number().int().positive().default(1_000_000),
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

/** Slot and publication names, defaulted from the prefix and shard when not configured (the shared contract). */
export function slotNamesOfConfig(config: ReaderConfig): { slot: string; publication: string } {
  return slotNamesOf({
    prefix: config.topics.prefix,
    shard: config.shard.id,
    ...(config.capture.slotName ? { slotName: config.capture.slotName } : {}),
    ...(config.capture.publicationName ? { publicationName: config.capture.publicationName } : {}),
  });
}
