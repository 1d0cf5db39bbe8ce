/** What one worker's `/readyz` said (or that it did not answer). */
export interface WorkerProbe {
  name: string;
  url: string;
  reachable: boolean;
  ready: boolean;
  /** For a wal-reader: whether it holds the shard's leadership (its `leadership` check). */
  leader?: boolean;
  checks?: Record<string, { ok: boolean; detail: string }>;
  /** For a wal-reader: why it stopped streaming a table or the shard (from its /metrics), when it did. */
  halts?: string[];
  error?: string;
}

/** Whether the schema registry answers, and whether it knows the subjects the topics' records need. */
export interface RegistryStatus {
  url: string;
  reachable: boolean;
  /** Value subjects of topics that hold records, unknown to the registry (restarted empty?). */
  missingSubjects: string[];
  error?: string;
}

export interface SlotFacts {
  exists: boolean;
  active: boolean;
  walStatus: string | null;
  retainedWalBytes: number;
  confirmedLagBytes: number;
  /** Why the slot is not the one the reader's progress was made on (judged only while it is inactive). */
  identityProblem?: string;
}

export interface ShardStatus {
  shard: number;
  slot: string;
  /** Undefined when the shard's Postgres could not be asked (see `error`). */
  slotFacts?: SlotFacts;
  readers: WorkerProbe[];
  error?: string;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** The group's committed offset, or null when it has none for this partition. */
  committed: string | null;
  high: string;
  lag: number;
}

export interface SinkStatus {
  sink: string;
  groupId: string;
  partitions: PartitionLag[];
  totalLag: number;
  workers: WorkerProbe[];
  /** Dead letters on the sink's dead-letter topic not yet replayed (see `fleet dlq replay`). */
  pendingDeadLetters?: number;
  error?: string;
}

export interface FleetStatus {
  healthy: boolean;
  problems: string[];
  /** Absent when the fleet config names no registry. */
  registry?: RegistryStatus;
  shards: ShardStatus[];
  sinks: SinkStatus[];
  /** Workers that belong to no shard or sink by name. */
  otherWorkers: WorkerProbe[];
}

export interface StatusLimits {
  maxLagEvents: number;
  maxRetainedWalBytes: number;
  /** More dead letters pending than this, per sink, is unhealthy. */
  maxPendingDeadLetters: number;
}

/**
 * How far a group trails one partition. Without a committed offset the group starts at the log's start
 * (`low`), so everything still in the log is behind.
 */
export function partitionLagOf(committed: string | null, low: string, high: string): number {
  const start = committed === null || BigInt(committed) < BigInt(low) ? BigInt(low) : BigInt(committed);
  const lag = BigInt(high) - start;
  return lag > 0n ? Number(lag) : 0;
}

/** Every reason the fleet is unhealthy, as sentences an operator can act on; none means healthy. */
export function fleetProblems(
  shards: ShardStatus[],
  sinks: SinkStatus[],
  otherWorkers: WorkerProbe[],
  limits: StatusLimits,
  registry?: RegistryStatus,
): string[] {
  return [
    ...(registry ? registryProblems(registry) : []),
    ...shards.flatMap((shard) => shardProblems(shard, limits)),
    ...sinks.flatMap((sink) => sinkProblems(sink, limits)),
    ...otherWorkers.flatMap((worker) => workerProblems(worker.name, [worker])),
  ];
}

function registryProblems(registry: RegistryStatus): string[] {
  if (!registry.reachable) return [`schema registry ${registry.url} does not answer: ${registry.error ?? 'no answer'}`];
  return registry.missingSubjects.map(
    (subject) =>
      `schema registry ${registry.url} does not know subject ${subject} although its topic holds records (restarted empty?): sinks cannot decode them until the readers register again`,
  );
}

function shardProblems(shard: ShardStatus, limits: StatusLimits): string[] {
  const name = `shard ${shard.shard}`;
  if (shard.error) return [`${name}: cannot read the slot: ${shard.error}`];
  const problems: string[] = [];
  const slot = shard.slotFacts;
  if (!slot?.exists) problems.push(`${name}: replication slot ${shard.slot} does not exist`);
  else {
    if (slot.walStatus === 'lost' || slot.walStatus === 'unreserved')
      problems.push(`${name}: slot ${shard.slot} wal_status is ${slot.walStatus} (the WAL it needs is or is about to be removed)`);
    if (!slot.active) problems.push(`${name}: slot ${shard.slot} is not active (no reader is streaming it)`);
    if (slot.identityProblem)
      problems.push(
        `${name}: ${slot.identityProblem}; its reader halts with slot_lost: re-snapshot the shard with fleet slots reset --shard ${shard.shard}`,
      );
    if (slot.retainedWalBytes > limits.maxRetainedWalBytes)
      problems.push(`${name}: slot ${shard.slot} retains ${slot.retainedWalBytes} bytes of WAL (limit ${limits.maxRetainedWalBytes})`);
  }
  if (shard.readers.length > 0) {
    // Standbys answer 503 by design; the shard is served when one reader leads and is ready.
    const leaders = shard.readers.filter((reader) => reader.leader);
    if (leaders.length === 0) problems.push(`${name}: no reader leads the shard`);
    else if (leaders.length > 1) problems.push(`${name}: ${leaders.length} readers claim leadership`);
    else if (!leaders[0]!.ready) problems.push(`${name}: leading reader ${leaders[0]!.url} is not ready (${failedChecks(leaders[0]!)})`);
    for (const reader of shard.readers.filter((probe) => !probe.reachable))
      problems.push(`${name}: reader ${reader.url} does not answer: ${reader.error ?? 'no answer'}`);
    for (const reader of shard.readers)
      for (const halt of reader.halts ?? []) problems.push(`${name}: reader ${reader.url} halted: ${halt}`);
  }
  return problems;
}

function sinkProblems(sink: SinkStatus, limits: StatusLimits): string[] {
  if (sink.error) return [`sink ${sink.sink}: cannot read group ${sink.groupId}: ${sink.error}`];
  const problems = sink.partitions
    .filter((partition) => partition.lag > limits.maxLagEvents)
    .map(
      (partition) =>
        `sink ${sink.sink}: ${partition.topic}[${partition.partition}] is ${partition.lag} offsets behind (limit ${limits.maxLagEvents})`,
    );
  if ((sink.pendingDeadLetters ?? 0) > limits.maxPendingDeadLetters)
    problems.push(
      `sink ${sink.sink}: ${sink.pendingDeadLetters} dead letters pending (limit ${limits.maxPendingDeadLetters}); see fleet dlq list --sink ${sink.sink}`,
    );
  return [...problems, ...workerProblems(`sink ${sink.sink}`, sink.workers)];
}

function workerProblems(owner: string, workers: WorkerProbe[]): string[] {
  return workers
    .filter((worker) => !worker.ready)
    .map((worker) =>
      worker.reachable
        ? `${owner}: worker ${worker.url} is not ready (${failedChecks(worker)})`
        : `${owner}: worker ${worker.url} does not answer: ${worker.error ?? 'no answer'}`,
    );
}

function failedChecks(worker: WorkerProbe): string {
  const failed = Object.entries(worker.checks ?? {}).filter(([, check]) => !check.ok);
  return failed.length > 0 ? failed.map(([name, check]) => `${name}: ${check.detail}`).join('; ') : 'no checks reported';
}

/** Reads a `/readyz` answer (`{ready, checks}`) into a probe. */
export function probeOf(name: string, url: string, status: number, body: string): WorkerProbe {
  let report: { ready?: unknown; checks?: unknown } = {};
  try {
    report = JSON.parse(body) as typeof report;
  } catch {
    return { name, url, reachable: true, ready: false, error: `answered ${status} without a readiness report` };
  }
  const checks = (typeof report.checks === 'object' && report.checks !== null ? report.checks : {}) as WorkerProbe['checks'] & object;
  const probe: WorkerProbe = { name, url, reachable: true, ready: status === 200 && report.ready === true, checks };
  if ('leadership' in checks) probe.leader = checks.leadership?.ok === true;
  return probe;
}

/**
 * The halts a wal-reader's /metrics shows: schema changes the registry refused (that table's stream stops
 * until the operator acts). Counters that stay at zero say nothing.
 */
export function readerHaltsOf(metrics: string): string[] {
  const halts: string[] = [];
  for (const line of metrics.split('\n')) {
    const match = /^cdc_reader_schema_refused_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || !(Number(match[2]) > 0)) continue;
    const table = /table="([^"]*)"/.exec(match[1]!)?.[1] ?? 'a table';
    halts.push(`the registry refused a schema change of ${table} (${Number(match[2])} times): its stream is stopped`);
  }
  return halts;
}
