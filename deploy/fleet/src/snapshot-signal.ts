import { pgClientConfig, requestSnapshot } from '@inventory-cdc/shared';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { readerNamesOf, type FleetConfig, type FleetShard } from './fleet-config';
import { OperationError } from './operation-error';

/** The message body: which table, and an id the reader logs and reports the snapshot under. */
export interface SnapshotSignal {
  id: string;
  table: string;
  requestedAt: string;
}

export interface SignalResult {
  id: string;
  table: string;
  shards: { shard: number; lsn: string }[];
}

/**
 * Asks the readers to snapshot one captured table again while streaming goes on: on each shard a row in
 * the request table and a transactional `pg_logical_emit_message` in one transaction (`requestSnapshot`),
 * which the reader receives in WAL order, at the commit of the signalling transaction. Every shard is checked before any is signalled: the table must be in the
 * reader's publication and the slot must exist (a message written before the slot is never decoded).
 */
export async function signalSnapshot(config: FleetConfig, shards: FleetShard[], table: string): Promise<SignalResult> {
  const [schema, name] = table.split('.') as [string, string];
  const signal: SnapshotSignal = { id: randomUUID(), table, requestedAt: new Date().toISOString() };
  const clients = shards.map((shard) => ({ shard, client: new Client(pgClientConfig(shard.connection, 'fleet-cli')) }));
  try {
    for (const { shard, client } of clients) {
      await client.connect();
      const { slot, publication } = readerNamesOf(config, shard);
      const found = await client.query<{ published: boolean; slot: boolean }>(
        `select exists (select 1 from pg_publication_tables where pubname = $1 and schemaname = $2 and tablename = $3) as published,
                exists (select 1 from pg_replication_slots where slot_name = $4) as slot`,
        [publication, schema, name, slot],
      );
      const row = found.rows[0];
      if (!row?.published)
        throw new OperationError(
          `${table} is not captured on shard ${shard.id} (not in publication ${publication})`,
          'name a captured table',
        );
      if (!row.slot)
        throw new OperationError(
          `shard ${shard.id} has no replication slot ${slot}`,
          'start the shard’s reader first; its first start snapshots anyway',
        );
    }
    const result: SignalResult = { id: signal.id, table, shards: [] };
    for (const { shard, client } of clients) {
      result.shards.push({ shard: shard.id, lsn: await requestSnapshot(client, signal) });
    }
    return result;
  } finally {
    await Promise.all(clients.map(({ client }) => client.end().catch(() => undefined)));
  }
}
