import { HaltError, type ChangeEnvelope } from '@inventory-cdc/shared';
import { PgValueParseError } from './pg-value-codec';
import type { ColumnValue } from './pgoutput-decode';
import type { CompiledTable } from './table-schema';

export type ChangeOp = ChangeEnvelope['op'];

/** What every event of one transaction (or of the snapshot) shares. */
export interface TransactionContext {
  shard: number;
  database: string;
  /** Commit LSN of the transaction; for snapshot rows, one below the slot's consistent point. */
  commitLsn: bigint;
  txId: bigint;
  commitTsMicros: bigint;
  snapshot: boolean;
}

export type RowRecord = Record<string, unknown>;

/** The change event value: the one envelope type the sinks decode (shared/src/change-event.ts). */
export type Envelope = ChangeEnvelope;

/** One Kafka record to be: a change event, or (value null) the tombstone that follows a delete. */
export interface ChangeRecord {
  table: CompiledTable;
  key: RowRecord | null;
  value: Envelope | null;
}

export type RowChange =
  | { kind: 'insert'; after: ColumnValue[] }
  | { kind: 'update'; before: { kind: 'key' | 'old'; values: ColumnValue[] } | null; after: ColumnValue[] }
  | { kind: 'delete'; before: { kind: 'key' | 'old'; values: ColumnValue[] } }
  | { kind: 'read'; after: ColumnValue[] }
  | { kind: 'truncate' };

/**
 * Turns one row change into its Kafka records. `nextSeq` numbers the change events of the transaction.
 *
 * - The key is the primary key of the row (after the change; before it for a delete).
 * - An update that changes the primary key becomes a delete of the old key (plus tombstone) and a create
 *   of the new one, so each key's history stays in its own partition, in order.
 * - A delete is followed by a tombstone so log compaction can drop the key.
 * - Unchanged TOAST columns take their value from the old row when the table has REPLICA IDENTITY FULL;
 *   otherwise they are null in `after` and named in `unchangedToast`, never a wrong value.
 */
export function recordsOf(
  change: RowChange,
  table: CompiledTable,
  context: TransactionContext,
  nextSeq: () => bigint,
  nowMs: bigint,
): ChangeRecord[] {
  const envelope = (op: ChangeOp, before: DecodedRow | null, after: DecodedRow | null): Envelope => ({
    before: before?.record ?? null,
    after: after?.record ?? null,
    op,
    source: {
      shard: context.shard,
      database: context.database,
      schema: table.shape.schema,
      table: table.shape.table,
      lsn: context.commitLsn,
      txId: context.txId,
      commitTs: context.commitTsMicros,
      snapshot: context.snapshot,
      seq: nextSeq(),
    },
    unchangedToast: after?.unchangedToast ?? [],
    tsMs: nowMs,
  });

  switch (change.kind) {
    case 'insert':
    case 'read': {
      const after = decodeRow(table, change.after, null);
      return [{ table, key: keyOf(table, after), value: envelope(change.kind === 'insert' ? 'c' : 'r', null, after) }];
    }
    case 'update': {
      const before = change.before ? decodeRow(table, change.before.values, null) : null;
      const after = decodeRow(table, change.after, change.before?.kind === 'old' ? change.before.values : null);
      const newKey = keyOf(table, after);
      const oldKey = before ? keyOf(table, before) : null;
      if (oldKey && !sameKey(oldKey, newKey)) {
        return [
          { table, key: oldKey, value: envelope('d', before, null) },
          { table, key: oldKey, value: null },
          { table, key: newKey, value: envelope('c', null, after) },
        ];
      }
      return [{ table, key: newKey, value: envelope('u', before, after) }];
    }
    case 'delete': {
      const before = decodeRow(table, change.before.values, null);
      const key = keyOf(table, before);
      return [
        { table, key, value: envelope('d', before, null) },
        { table, key, value: null },
      ];
    }
    case 'truncate':
      return [
        {
          table,
          key: Object.fromEntries(table.keyIndexes.map((index) => [table.fieldNames[index]!, null])),
          value: envelope('t', null, null),
        },
      ];
  }
}

interface DecodedRow {
  record: RowRecord;
  unchangedToast: string[];
}

function decodeRow(table: CompiledTable, values: ColumnValue[], oldRow: ColumnValue[] | null): DecodedRow {
  const record: RowRecord = {};
  const unchangedToast: string[] = [];
  const { fieldNames, shape } = table;
  for (let index = 0; index < fieldNames.length; index++) {
    let value = values[index];
    if (value?.kind === 'unchanged-toast' && oldRow) value = oldRow[index];
    const field = fieldNames[index]!;
    if (value === undefined || value.kind === 'null') {
      record[field] = null;
    } else if (value.kind === 'unchanged-toast') {
      record[field] = null;
      unchangedToast.push(shape.columns[index]!.name);
    } else {
      record[field] = parseColumn(table, index, value.text);
    }
  }
  return { record, unchangedToast };
}

/**
 * A value the type mapping cannot read fails the same way on every retry while the slot keeps the WAL:
 * halt at once, naming the column (the change stays unacknowledged in the slot).
 */
function parseColumn(table: CompiledTable, index: number, text: string): unknown {
  try {
    return table.codecs[index]!.parse(text);
  } catch (error) {
    if (!(error instanceof PgValueParseError)) throw error;
    const { schema, table: name } = table.shape;
    const column = table.shape.columns[index]!;
    throw new HaltError(
      'unmappable_value',
      `column ${column.name} of ${schema}.${name}: ${error.message}`,
      `the change stays in the slot and fails again on every start: store ${schema}.${name}.${column.name} in a form the type mapping covers (workers/wal-reader/src/pg-value-codec.ts), e.g. a one-dimensional array or jsonb; the change already written can only be passed by re-snapshotting the shard (fleet slots reset)`,
      { cause: error },
    );
  }
}

function keyOf(table: CompiledTable, row: DecodedRow): RowRecord {
  const key: RowRecord = {};
  for (const index of table.keyIndexes) {
    const field = table.fieldNames[index]!;
    key[field] = row.record[field];
  }
  return key;
}

function sameKey(a: RowRecord, b: RowRecord): boolean {
  return Object.keys(a).every((field) => {
    const left = a[field];
    const right = b[field];
    return Buffer.isBuffer(left) && Buffer.isBuffer(right) ? left.equals(right) : left === right;
  });
}
