import type { DeadLetterEntry } from './dead-letter-entry';
import type { ReplayResult } from './dlq-commands';
import type { FleetStatus, WorkerProbe } from './fleet-status';
import type { RebuildResult } from './redis-rebuild';
import type { SlotResult } from './slot-commands';
import type { SignalResult } from './snapshot-signal';

/** `--json` output: bigints (decoded Avro longs, offsets) as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner), 2);
}

/** A plain text table: a header row, a rule, and columns padded to their widest cell. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function readiness(probe: WorkerProbe): string {
  if (!probe.reachable) return 'down';
  if (probe.leader === false) return probe.ready ? 'ready' : 'standby';
  return probe.ready ? 'ready' : 'not ready';
}

export function formatStatus(status: FleetStatus): string {
  const shards = renderTable(
    ['shard', 'slot', 'active', 'wal_status', 'retained', 'confirmed lag', 'readers'],
    status.shards.map((shard) => {
      const slot = shard.slotFacts;
      const readers = shard.readers.map((reader) => `${reader.url} ${readiness(reader)}${reader.leader ? ' (leader)' : ''}`).join(', ');
      if (!slot) return [String(shard.shard), shard.slot, '?', '?', '?', '?', readers || '-'];
      if (!slot.exists) return [String(shard.shard), shard.slot, 'missing', '-', '-', '-', readers || '-'];
      return [
        String(shard.shard),
        shard.slot,
        slot.active ? 'yes' : 'no',
        slot.walStatus ?? '-',
        formatBytes(slot.retainedWalBytes),
        formatBytes(slot.confirmedLagBytes),
        readers || '-',
      ];
    }),
  );
  const sinks = renderTable(
    ['sink', 'group', 'topic', 'partition', 'committed', 'end', 'lag'],
    status.sinks.flatMap((sink) =>
      sink.partitions.length === 0
        ? [[sink.sink, sink.groupId, sink.error ? `error: ${sink.error}` : '-', '', '', '', '']]
        : sink.partitions.map((partition) => [
            sink.sink,
            sink.groupId,
            partition.topic,
            String(partition.partition),
            partition.committed ?? '-',
            partition.high,
            String(partition.lag),
          ]),
    ),
  );
  const probes = [
    ...status.shards.flatMap((shard) => shard.readers),
    ...status.sinks.flatMap((sink) => sink.workers),
    ...status.otherWorkers,
  ];
  const workers = renderTable(
    ['worker', 'url', 'readiness'],
    probes.map((probe) => [probe.name, probe.url, readiness(probe)]),
  );
  const registry = status.registry
    ? `registry ${status.registry.url}: ${status.registry.reachable ? 'answers' : `does not answer (${status.registry.error ?? 'no answer'})`}`
    : '';
  const deadLetters = status.sinks
    .filter((sink) => sink.pendingDeadLetters !== undefined)
    .map((sink) => `dead letters pending for ${sink.sink}: ${sink.pendingDeadLetters}`)
    .join('\n');
  const verdict = status.healthy ? 'healthy' : `UNHEALTHY\n${status.problems.map((problem) => `  - ${problem}`).join('\n')}`;
  return [registry, shards, status.sinks.length > 0 ? sinks : '', deadLetters, probes.length > 0 ? workers : '', verdict]
    .filter(Boolean)
    .join('\n\n');
}

export function formatSlotResult(action: 'drop' | 'reset', result: SlotResult): string {
  const lines = [
    result.dropped ? `shard ${result.shard}: dropped slot ${result.slot}` : `shard ${result.shard}: no slot ${result.slot} to drop`,
  ];
  if (result.terminatedPids.length > 0) lines.push(`terminated walsender ${result.terminatedPids.join(', ')}`);
  if (action === 'reset')
    lines.push(
      result.progressReset
        ? 'reader progress reset: the reader snapshots the shard again on its next start'
        : 'no reader progress topic: the reader snapshots on its first start anyway',
    );
  return lines.join('\n');
}

export function formatDeadLetters(sink: string, topic: string, entries: DeadLetterEntry[]): string {
  if (entries.length === 0) return `${sink}: no dead letters on ${topic}`;
  return `${sink} (${topic})\n${renderTable(
    ['partition', 'offset', 'reason', 'source', 'key', 'replayed', 'detail'],
    entries.map((entry) => [
      String(entry.partition),
      entry.offset,
      entry.reason,
      entry.source ? `${entry.source.topic}[${entry.source.partition ?? '?'}]@${entry.source.offset ?? '?'}` : '-',
      typeof entry.key === 'string' ? entry.key : toJson(entry.key).replace(/\s+/g, ' '),
      entry.replayed ? 'yes' : 'no',
      entry.detail.replace(/\s+/g, ' ').slice(0, 80),
    ]),
  )}`;
}

export function formatReplay(result: ReplayResult): string {
  const lines = result.replayed.map((entry) => `replayed ${result.dlqTopic}[${entry.partition}]@${entry.offset} to ${entry.topic}`);
  for (const entry of result.alreadyReplayed) lines.push(`${result.dlqTopic}[${entry.partition}]@${entry.offset} was already replayed`);
  return lines.length > 0 ? lines.join('\n') : `${result.sink}: nothing to replay`;
}

export function formatRebuild(result: RebuildResult): string {
  return `redis-cache rebuild finished${result.rows === null ? '' : `: ${result.rows} rows`}`;
}

export function formatSignal(result: SignalResult): string {
  return [
    `ad-hoc snapshot ${result.id} of ${result.table} requested`,
    ...result.shards.map((shard) => `  shard ${shard.shard}: signal at ${shard.lsn}`),
  ].join('\n');
}
