import { pgClientConfig, slotLag } from '@inventory-cdc/shared';
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
import {
  fleetProblems,
  partitionLagOf,
  probeOf,
  type FleetStatus,
  type PartitionLag,
  type ShardStatus,
  type SinkStatus,
  type WorkerProbe,
} from './fleet-status';

/** Asks every shard, the consumer groups and every worker at once, then judges the whole. */
export async function collectStatus(config: FleetConfig, kafka: Kafka): Promise<FleetStatus> {
  const probes = await Promise.all(config.workers.map((worker) => probeWorker(worker, config.status.probeTimeoutMs)));
  const sinks = sinksOf(config);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = new Set(await admin.listTopics());
    const [shardStatuses, sinkStatuses] = await Promise.all([
      Promise.all(config.shards.map((shard) => shardStatusOf(config, shard, probes))),
      Promise.all(sinks.map((sink) => sinkStatusOf(admin, topics, sink, probes))),
    ]);
    const owned = new Set([...config.shards.map((shard) => readerWorkerName(shard.id)), ...sinks.map((sink) => sink.name)]);
    const otherWorkers = probes.filter((probe) => !owned.has(probe.name));
    const problems = fleetProblems(shardStatuses, sinkStatuses, otherWorkers, config.status);
    return { healthy: problems.length === 0, problems, shards: shardStatuses, sinks: sinkStatuses, otherWorkers };
  } finally {
    await admin.disconnect();
  }
}

async function shardStatusOf(config: FleetConfig, shard: FleetShard, probes: WorkerProbe[]): Promise<ShardStatus> {
  const { slot } = readerNamesOf(config, shard);
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
    return { shard: shard.id, slot, slotFacts, readers };
  } catch (error) {
    return { shard: shard.id, slot, readers, error: (error as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function sinkStatusOf(admin: Admin, topics: Set<string>, sink: FleetSink, probes: WorkerProbe[]): Promise<SinkStatus> {
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
    return { sink: sink.name, groupId: sink.groupId, partitions, totalLag, workers };
  } catch (error) {
    return { sink: sink.name, groupId: sink.groupId, partitions: [], totalLag: 0, workers, error: (error as Error).message };
  }
}

export async function probeWorker(worker: WorkerEndpoint, timeoutMs: number): Promise<WorkerProbe> {
  try {
    const response = await fetch(`${worker.url}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    return probeOf(worker.name, worker.url, response.status, await response.text());
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    return { name: worker.name, url: worker.url, reachable: false, ready: false, error: cause?.message ?? (error as Error).message };
  }
}
