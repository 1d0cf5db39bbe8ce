import type { ReadRecord } from '@inventory-cdc/shared/testing';
import type { Client } from 'pg';
import { envelopes } from './reader-test-fixture';

/**
 * Test workload whose history can be checked exactly: every committed change of row `id` sets `version`
 * to the previous version + 1, so the events of one key must carry consecutive versions — a repeated
 * version is a duplicate, a skipped one is a loss, a smaller one is a reordering.
 */
export const versionedTableDdl = `create table items (id int4 primary key, version int4 not null, payload text)`;

export async function writeVersionedTransactions(
  client: Client,
  options: { transactions: number; firstNewId: number; rowsPerTransaction: number; existingIds: () => number; signal?: AbortSignal },
): Promise<number> {
  let nextId = options.firstNewId;
  let committed = 0;
  for (let i = 0; i < options.transactions && !options.signal?.aborted; i++) {
    const existing = options.existingIds();
    const ids = Array.from({ length: options.rowsPerTransaction }, () => 1 + Math.floor(Math.random() * Math.max(1, existing)));
    await client.query('begin');
    try {
      await client.query(`insert into items values ($1, 1, 'new')`, [nextId]);
      // Sorted ids: concurrent writers lock rows in one order and cannot deadlock.
      await client.query(`update items set version = version + 1, payload = md5(random()::text) where id = any($1::int4[])`, [
        [...new Set(ids)].sort((a, b) => a - b),
      ]);
      await client.query('commit');
      nextId++;
      committed++;
    } catch (error) {
      await client.query('rollback');
      throw error;
    }
  }
  return committed;
}

export interface HistoryCheck {
  keys: number;
  events: number;
  problems: string[];
}

/** Checks that each key's events, in partition order, carry versions first..final with no gap or repeat. */
export function checkHistories(records: ReadRecord[], finalVersions: Map<number, number>): HistoryCheck {
  const byKey = new Map<number, number[]>();
  for (const event of envelopes(records)) {
    const row = event.after ?? event.before;
    if (!row) continue;
    const id = row.id as number;
    let versions = byKey.get(id);
    if (!versions) byKey.set(id, (versions = []));
    versions.push(row.version as number);
  }
  const problems: string[] = [];
  for (const [id, finalVersion] of finalVersions) {
    const versions = byKey.get(id) ?? [];
    const first = versions[0] ?? finalVersion + 1;
    const expected = Array.from({ length: finalVersion - first + 1 }, (_, i) => first + i);
    if (versions.length === 0 || versions.join(',') !== expected.join(',')) {
      problems.push(`id ${id}: versions ${versions.slice(0, 20).join(',')}${versions.length > 20 ? '…' : ''} (final ${finalVersion})`);
    }
  }
  for (const id of byKey.keys()) if (!finalVersions.has(id)) problems.push(`id ${id}: events for a row Postgres does not have`);
  return { keys: byKey.size, events: [...byKey.values()].reduce((sum, versions) => sum + versions.length, 0), problems };
}

export async function finalVersionsOf(client: Client): Promise<Map<number, number>> {
  const result = await client.query<{ id: number; version: number }>('select id, version from items');
  return new Map(result.rows.map((row) => [row.id, row.version]));
}
