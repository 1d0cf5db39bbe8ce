import {
  createLogger,
  createRegistryClient,
  pgClientConfig,
  readProgress,
  readSlot,
  slotIdentityProblem,
  slotLag,
  systemIdentifierOf,
  type RegistryConfig,
} from '@inventory-cdc/shared';
import type { Admin, Kafka } from 'kafkajs';
import { Client } from 'pg';
import {
  readerNamesOf,
  readerWorkerName,
  sinksOf,
  type FleetConfig,
  type FleetShard,
  type FleetSink,
  type WorkerEndpoint,
} from './fleet-config';
import { pendingDeadLetterCount } from './dlq-commands';
import {
  fleetProblems,
  readerHaltsOf,
  partitionLagOf,
  probeOf,
  type FleetStatus,
  type PartitionLag,
  type RegistryStatus,
  type ShardStatus,
  type SinkStatus,
  type WorkerProbe,
} from './fleet-status';

/** Asks the registry, every shard, the consumer groups and every worker at once, then judges the whole. */
export async function collectStatus(config: FleetConfig, kafka: Kafka): Promise<FleetStatus> {
  const readerNames = new Set(config.shards.map((shard) => readerWorkerName(shard.id)));
  const probes = await Promise.all(
    config.workers.map((worker) => probeWorker(worker, config.status.probeTimeoutMs, readerNames.has(worker.name))),
  );
  const sinks = sinksOf(config);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = new Set(await admin.listTopics());
    const [shardStatuses, sinkStatuses, registry] = await Promise.all([
      Promise.all(config.shards.map((shard) => shardStatusOf(config, shard, probes, kafka, topics))),
      Promise.all(sinks.map((sink) => sinkStatusOf(kafka, admin, topics, sink, probes))),
      config.registry ? registryStatusOf(config.registry, admin, topics, [...new Set(sinks.flatMap((sink) => sink.topics))]) : undefined,
    ]);
    const owned = new Set([...readerNames, ...sinks.map((sink) => sink.name)]);
    const otherWorkers = probes.filter((probe) => !owned.has(probe.name));
    const problems = fleetProblems(shardStatuses, sinkStatuses, otherWorkers, config.status, registry);
    return {
      healthy: problems.length === 0,
      problems,
      ...(registry ? { registry } : {}),
      shards: shardStatuses,
      sinks: sinkStatuses,
      otherWorkers,
    };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Whether the registry answers, and knows the value subject of every topic that holds records: one that
 * restarted empty (in-memory storage) answers, but sinks cannot decode anything until the readers register
 * their schemas again.
 */
async function registryStatusOf(
  registry: RegistryConfig,
  admin: Admin,
  topics: Set<string>,
  dataTopics: string[],
): Promise<RegistryStatus> {
  const client = createRegistryClient(registry);
  try {
    const subjects = new Set(await client.getAllSubjects());
    const missingSubjects: string[] = [];
    for (const topic of dataTopics.filter((name) => topics.has(name))) {
      const holdsRecords = (await admin.fetchTopicOffsets(topic)).some((partition) => BigInt(partition.high) > BigInt(partition.low));
      if (holdsRecords && !subjects.has(`${topic}-value`)) missingSubjects.push(`${topic}-value`);
    }
    return { url: registry.url, reachable: true, missingSubjects };
  } catch (error) {
    return { url: registry.url, reachable: false, missingSubjects: [], error: (error as Error).message };
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function shardStatusOf(
  config: FleetConfig,
  shard: FleetShard,
  probes: WorkerProbe[],
  kafka: Kafka,
  topics: Set<string>,
): Promise<ShardStatus> {
  const { slot, progressTopic } = readerNamesOf(config, shard);
  const readers = probes.filter((probe) => probe.name === readerWorkerName(shard.id));
  const client = new Client(pgClientConfig(shard.connection, 'fleet-cli'));
  try {
    await client.connect();
    const lag = await slotLag(client, slot);
    const slotFacts = lag
      ? {
          exists: true,
          active: lag.active,
          walStatus: lag.walStatus,
          retainedWalBytes: lag.retainedBytes,
          confirmedLagBytes: lag.confirmedLagBytes,
        }
      : { exists: false, active: false, walStatus: null, retainedWalBytes: 0, confirmedLagBytes: 0 };
    const identityProblem =
      lag && !lag.active && topics.has(progressTopic) ? await slotIdentityOf(client, slot, kafka, progressTopic, shard.id) : undefined;
    return { shard: shard.id, slot, slotFacts: { ...slotFacts, ...(identityProblem ? { identityProblem } : {}) }, readers };
  } catch (error) {
    return { shard: shard.id, slot, readers, error: (error as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Whether an idle slot is the one the shard reader's progress was made on (a reader refuses to stream one
 * that is not). Only an inactive slot is judged: a streaming reader checked its slot when it started, and
 * the slot is read before the progress, so an acknowledgement in between cannot look like a gap.
 */
async function slotIdentityOf(
  client: Client,
  slot: string,
  kafka: Kafka,
  progressTopic: string,
  shard: number,
): Promise<string | undefined> {
  const state = await readSlot(client, slot);
  if (!state) return undefined;
  const systemIdentifier = await systemIdentifierOf(client);
  // A progress topic that cannot be read to its end (a hanging transaction) leaves the slot unjudged here;
  // the reader names that problem itself when it starts.
  const progress = await readProgress(kafka, progressTopic, shard, createLogger({ service: 'fleet', level: 'silent' }), 15_000).catch(
    () => undefined,
  );
  return progress && slotIdentityProblem(slot, state, progress, systemIdentifier);
}

async function sinkStatusOf(kafka: Kafka, admin: Admin, topics: Set<string>, sink: FleetSink, probes: WorkerProbe[]): Promise<SinkStatus> {
  const workers = probes.filter((probe) => probe.name === sink.name);
  try {
    const missing = sink.topics.filter((topic) => !topics.has(topic));
    if (missing.length > 0) throw new Error(`topic ${missing.join(', ')} does not exist`);
    const committed = await admin.fetchOffsets({ groupId: sink.groupId, topics: sink.topics });
    const partitions: PartitionLag[] = [];
    for (const topic of sink.topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const group = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
      for (const end of ends.sort((a, b) => a.partition - b.partition)) {
        const offset = group.find((entry) => entry.partition === end.partition)?.offset;
        const mine = offset === undefined || offset === '-1' ? null : offset;
        partitions.push({ topic, partition: end.partition, committed: mine, high: end.high, lag: partitionLagOf(mine, end.low, end.high) });
      }
    }
    const totalLag = partitions.reduce((sum, partition) => sum + partition.lag, 0);
    const pendingDeadLetters = await pendingDeadLetterCount(kafka, sink);
    return { sink: sink.name, groupId: sink.groupId, partitions, totalLag, workers, pendingDeadLetters };
  } catch (error) {
    return { sink: sink.name, groupId: sink.groupId, partitions: [], totalLag: 0, workers, error: (error as Error).message };
  }
}

/** A worker's `/readyz`; for a reader also its `/metrics`, for the halts they show. */
export async function probeWorker(worker: WorkerEndpoint, timeoutMs: number, reader = false): Promise<WorkerProbe> {
  try {
    const response = await fetch(`${worker.url}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    const probe = probeOf(worker.name, worker.url, response.status, await response.text());
    if (reader) {
      const metrics = await fetch(`${worker.url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) }).then((answer) => answer.text());
      const halts = readerHaltsOf(metrics);
      if (halts.length > 0) probe.halts = halts;
    }
    return probe;
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    return { name: worker.name, url: worker.url, reachable: false, ready: false, error: cause?.message ?? (error as Error).message };
  }
}
