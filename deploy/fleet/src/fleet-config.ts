import {
  dlqTopicOf,
  kafkaConfigSchema,
  loadConfig,
  postgresConnectionSchema,
  readerTopicsOf,
  registryConfigSchema,
  slotNamesOf,
  stockTopicOf,
} from '@inventory-cdc/shared';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';

const workerSchema = z
  .object({
    /** `wal-reader-<shard>` for a shard's readers (leader and standbys), a sink's name for its members, or any name. */
    name: z.string().min(1),
    /** Base URL of the worker's HTTP server (`/readyz`, `/metrics`). */
    url: z
      .string()
      .url()
      .transform((url) => url.replace(/\/+$/, '')),
  })
  .strict();

/**
 * What the `fleet` command needs to reach the fleet: the same Kafka, Postgres and topic settings as the
 * workers' config files, every shard, every sink, and where the workers' HTTP servers answer.
 */
export const fleetConfigSchema = z
  .object({
    kafka: kafkaConfigSchema,
    /** The schema registry; when given, `dlq list` shows decoded keys instead of bytes. */
    registry: registryConfigSchema.optional(),
    topics: z
      .object({
        /** The wal-readers' topic prefix. */
        prefix: z.string().regex(/^[a-zA-Z0-9._-]+$/),
        /** Postgres schema of the stock table. Default `inventory`. */
        stockSchema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/)
          .default('inventory'),
        /** Prefix of the dead-letter topics `<dlqPrefix>.dlq.<sink>`. Default: `prefix`. */
        dlqPrefix: z.string().min(1).optional(),
      })
      .strict(),
    shards: z
      .array(
        z
          .object({
            id: z.number().int().min(0).max(0xffff),
            connection: postgresConnectionSchema,
            /** The reader's `capture.slotName`, when it sets one. Default: the reader's default for this prefix and shard. */
            slotName: z.string().min(1).optional(),
            /** The reader's `capture.publicationName`, when it sets one. Default: the slot name. */
            publicationName: z.string().min(1).optional(),
          })
          .strict(),
      )
      .min(1),
    sinks: z
      .array(
        z
          .object({
            /** The sink worker, e.g. `redis-cache`; its dead letters are on `<dlqPrefix>.dlq.<name>`. */
            name: z.string().regex(/^[a-z0-9-]+$/),
            /** Its consumer group. Default `<prefix>.<name>`. */
            groupId: z.string().min(1).optional(),
            /** Topics it consumes. Default: the stock topic. */
            topics: z.array(z.string().min(1)).min(1).optional(),
          })
          .strict(),
      )
      .default([]),
    workers: z.array(workerSchema).default([]),
    status: z
      .object({
        /** A sink partition further behind than this many offsets is unhealthy. Default 10000. */
        maxLagEvents: z.number().int().positive().default(10_000),
        /** A slot retaining more WAL than this is unhealthy. Default 1 GiB. */
        maxRetainedWalBytes: z
          .number()
          .int()
          .positive()
          .default(1024 ** 3),
        /** More dead letters than this pending (not replayed) on one sink's topic is unhealthy. Default 0. */
        maxPendingDeadLetters: z.number().int().nonnegative().default(0),
        /** Deadline of one worker's `/readyz` answer. Default 2000 ms. */
        probeTimeoutMs: z.number().int().positive().default(2_000),
      })
      .strict()
      .default({}),
    reconcile: z
      .object({
        /** The redis-cache's Redis (`redis://host:port/db`), for `fleet reconcile`. */
        redisUrl: z.string().url().optional(),
        /** Base URL of a WMS exposing what it holds (`GET /admin/stock`, as the reference WMS does). */
        wmsStateUrl: z.string().url().optional(),
        /** Base URL of an ERP exposing its net booked stock (`GET /admin/stock`, as the reference ERP does). */
        erpStateUrl: z.string().url().optional(),
        /** Wait before comparing a differing key again (a change on its way is lag, not drift). Default 3000 ms. */
        graceMs: z.number().int().nonnegative().default(3_000),
      })
      .strict()
      .default({}),
    rebuild: z
      .object({
        /** The redis-cache worker's config file, for `fleet rebuild redis` (relative to this file). */
        redisCacheConfig: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type FleetConfig = z.infer<typeof fleetConfigSchema>;
export type FleetShard = FleetConfig['shards'][number];
export type WorkerEndpoint = FleetConfig['workers'][number];

/** A sink with its defaults filled in. */
export interface FleetSink {
  name: string;
  groupId: string;
  topics: string[];
  dlqTopic: string;
}

/** Loads and checks the fleet config (`FLEET__…` variables override keys, as `CDC__…` do for workers). */
export function loadFleetConfig(file: string, env: Record<string, string | undefined>): FleetConfig {
  const config = loadConfig(fleetConfigSchema, { file, env, envPrefix: 'FLEET' });
  if (config.rebuild.redisCacheConfig) config.rebuild.redisCacheConfig = resolve(dirname(file), config.rebuild.redisCacheConfig);
  return config;
}

export function sinksOf(config: FleetConfig): FleetSink[] {
  const { prefix } = config.topics;
  return config.sinks.map((sink) => ({
    name: sink.name,
    groupId: sink.groupId ?? `${prefix}.${sink.name}`,
    topics: sink.topics ?? [stockTopicOf({ prefix, stockSchema: config.topics.stockSchema })],
    dlqTopic: dlqTopicOf(config.topics, sink.name),
  }));
}

/** The shard's slot, publication and progress topic, named by the reader's own rules. */
export function readerNamesOf(config: FleetConfig, shard: FleetShard): { slot: string; publication: string; progressTopic: string } {
  const names = slotNamesOf({
    prefix: config.topics.prefix,
    shard: shard.id,
    ...(shard.slotName ? { slotName: shard.slotName } : {}),
    ...(shard.publicationName ? { publicationName: shard.publicationName } : {}),
  });
  return { ...names, progressTopic: readerTopicsOf(config.topics.prefix, shard.id).progress };
}

/** The name under which a shard's readers are listed in `workers`. */
export function readerWorkerName(shard: number): string {
  return `wal-reader-${shard}`;
}
