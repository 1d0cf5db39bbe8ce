import { dispositionOf, dropSlot, pgClientConfig, progressMessage, retry } from '@inventory-cdc/shared';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { Client, DatabaseError } from 'pg';
import { readerNamesOf, type FleetConfig, type FleetShard } from './fleet-config';
import { OperationError } from './operation-error';

export interface SlotResult {
  shard: number;
  slot: string;
  /** False when there was no slot to drop. */
  dropped: boolean;
  /** Walsenders terminated to free the slot (`--force`). */
  terminatedPids: number[];
  /** `reset` only: the progress topic now tells the reader to snapshot again. */
  progressReset?: boolean;
}

const objectInUse = '55006';

/**
 * Drops the shard's slot. An active slot is refused unless `force`: then the walsender streaming it is
 * terminated, again if a reader reconnects before the drop gets through. The reader then stops with
 * `slot_lost` (its progress says changes after it would be missing) until the shard is reset.
 */
export async function dropShardSlot(config: FleetConfig, shard: FleetShard, force: boolean, timeoutMs = 15_000): Promise<SlotResult> {
  const { slot } = readerNamesOf(config, shard);
  const result: SlotResult = { shard: shard.id, slot, dropped: false, terminatedPids: [] };
  const client = new Client(pgClientConfig(shard.connection, 'fleet-cli'));
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await client.query<{ active_pid: number | null }>('select active_pid from pg_replication_slots where slot_name = $1', [
        slot,
      ]);
      const row = state.rows[0];
      if (!row) return result;
      if (row.active_pid !== null) {
        if (!force)
          throw new OperationError(
            `slot ${slot} of shard ${shard.id} is active (walsender pid ${row.active_pid}): a reader is streaming it`,
            'stop the shard’s readers first, or pass --force to terminate the walsender',
          );
        await client.query('select pg_terminate_backend($1)', [row.active_pid]);
        result.terminatedPids.push(row.active_pid);
      } else {
        try {
          await dropSlot(client, slot);
          result.dropped = true;
          return result;
        } catch (error) {
          // The walsender exits a moment after being terminated, or a reader took the slot again in between.
          if (!(error instanceof DatabaseError && error.code === objectInUse)) throw error;
        }
      }
      if (Date.now() > deadline) throw new OperationError(`slot ${slot} of shard ${shard.id} stayed active for ${timeoutMs} ms`);
      await sleep(100);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Writes a progress record with an unfinished snapshot and drops the slot: on its next start the reader
 * (snapshot mode `initial` or `when-needed`) creates a new slot and snapshots every captured table. The
 * record is written under the reader's own transactional id, which fences any reader of the shard still
 * running, so no older progress record can be committed after it. With --force it is written first:
 * dropping the slot terminates the reader's walsender and the reader restarts within a second, and had it
 * read the old progress before the reset record was there, it would find its slot gone under progress
 * that says the slot's changes were published, and halt (`slot_lost`).
 */
export async function resetShard(config: FleetConfig, shard: FleetShard, kafka: Kafka, force: boolean): Promise<SlotResult> {
  const { progressTopic } = readerNamesOf(config, shard);
  const admin = kafka.admin();
  await admin.connect();
  const exists = await admin
    .listTopics()
    .then((topics) => topics.includes(progressTopic))
    .finally(() => admin.disconnect());
  // A reader restarting its session at this moment fences our producer in turn; the next attempt fences it again.
  const resetProgress = async (): Promise<void> => {
    if (!exists) return;
    await retry(() => writeResetRecord(config, shard, kafka, progressTopic), {
      initialDelayMs: 200,
      maxAttempts: 5,
      retryOn: (error) => dispositionOf(error) === 'retryable',
    });
  };
  // Without --force an active slot is refused before anything changes; no reader streams it then.
  if (!force) {
    const result = await dropShardSlot(config, shard, false);
    await resetProgress();
    return { ...result, progressReset: exists };
  }
  await resetProgress();
  const result = await dropShardSlot(config, shard, true);
  return { ...result, progressReset: exists };
}

async function writeResetRecord(config: FleetConfig, shard: FleetShard, kafka: Kafka, progressTopic: string): Promise<void> {
  const producer = kafka.producer({
    // The wal-reader's transactional id (wal-reader.ts).
    transactionalId: `${config.topics.prefix}.wal-reader.shard-${shard.id}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    const transaction = await producer.transaction();
    try {
      const reset = {
        shard: shard.id,
        commitLsn: 0n,
        snapshotComplete: false,
        snapshotLsn: null,
        slotCreatedAtLsn: null,
        updatedAtMs: Date.now(),
      };
      await transaction.send({ topic: progressTopic, messages: [progressMessage(reset)] });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  } finally {
    await producer.disconnect();
  }
}
