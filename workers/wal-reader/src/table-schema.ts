import type { RelationColumn, ReplicaIdentity } from './pgoutput-decode';
import { valueCodecFor, type ValueCodec } from './pg-value-codec';

/** A captured table as the reader knows it: the latest relation message plus its primary key. */
export interface TableShape {
  relationOid: number;
  schema: string;
  table: string;
  replicaIdentity: ReplicaIdentity;
  columns: RelationColumn[];
  /** Primary-key column names, in key order (from the catalog; pgoutput flags replica-identity columns). */
  primaryKey: string[];
}

/** A table shape compiled for the hot path: column codecs, Avro field names, and the Avro schemas. */
export interface CompiledTable {
  shape: TableShape;
  topic: string;
  codecs: ValueCodec[];
  fieldNames: string[];
  /** Positions of the primary-key columns in `columns`. */
  keyIndexes: number[];
  keySchema: object;
  valueSchema: object;
  /** Identifies the Avro shape: equal fingerprints need no new registration. */
  fingerprint: string;
}

/** Avro names allow [A-Za-z0-9_] and no leading digit; other characters become `_`. */
export function avroName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

/**
 * The `source` block of every change event; `lsn` is the transaction's commit LSN and `seq` the change's
 * place in it, which together are the source position sinks order by.
 */
export const sourceSchema = {
  type: 'record',
  name: 'Source',
  namespace: 'cdc',
  fields: [
    { name: 'shard', type: 'int' },
    { name: 'database', type: 'string' },
    { name: 'schema', type: 'string' },
    { name: 'table', type: 'string' },
    { name: 'lsn', type: 'long', doc: 'commit LSN of the transaction (the slot consistent point for snapshot rows)' },
    { name: 'txId', type: 'long' },
    { name: 'commitTs', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'snapshot', type: 'boolean' },
    { name: 'seq', type: 'long', doc: 'sequence of the change within its transaction (or snapshot)' },
  ],
};

/**
 * Key and envelope schemas of one table. Every row field is nullable with a null default, so adding or
 * dropping a column is a BACKWARD-compatible change; changing a column's type is not, and the registry
 * refuses it. Unchanged TOAST values that cannot be recovered are null in `after` and their column names
 * are listed in `unchangedToast` (see README, "Change events").
 */
export function compileTable(shape: TableShape, topic: string): CompiledTable {
  const namespace = `cdc.${avroName(shape.schema)}.${avroName(shape.table)}`;
  // Type names are not passed: they arrive only on the stream, and the snapshot's schema must be the same.
  const codecs = shape.columns.map((column) => valueCodecFor(column.typeOid));
  const fieldNames = shape.columns.map((column) => avroName(column.name));
  const keyIndexes = shape.primaryKey.map((name) => {
    const index = shape.columns.findIndex((column) => column.name === name);
    if (index < 0) throw new Error(`primary-key column ${name} of ${shape.schema}.${shape.table} is not in its relation message`);
    return index;
  });
  const rowFields = shape.columns.map((column, index) => ({
    name: fieldNames[index],
    type: ['null', codecs[index]!.avro],
    default: null,
    doc: `${column.name} (pg type oid ${column.typeOid})`,
  }));
  const keySchema = {
    type: 'record',
    name: 'Key',
    namespace,
    // Nullable only for the truncate event, whose key has every field null: a key is required on a
    // compacted topic, and a truncate concerns no single row. Row keys never hold a null.
    fields: keyIndexes.map((index) => ({ name: fieldNames[index], type: ['null', codecs[index]!.avro], default: null })),
  };
  const valueSchema = {
    type: 'record',
    name: 'Envelope',
    namespace,
    fields: [
      { name: 'before', type: ['null', { type: 'record', name: 'Value', fields: rowFields }], default: null },
      { name: 'after', type: ['null', 'Value'], default: null },
      { name: 'op', type: 'string', doc: 'c create, u update, d delete, r snapshot read, t truncate' },
      { name: 'source', type: sourceSchema },
      {
        name: 'unchangedToast',
        type: { type: 'array', items: 'string' },
        default: [],
        doc: 'columns whose unchanged TOAST value is not in after',
      },
      { name: 'tsMs', type: 'long', doc: 'when the reader produced the event (ms since epoch)' },
    ],
  };
  return { shape, topic, codecs, fieldNames, keyIndexes, keySchema, valueSchema, fingerprint: JSON.stringify([keySchema, valueSchema]) };
}

/** Key and value schemas of `<prefix>.transactions` (one BEGIN and one END record per transaction). */
export const transactionKeySchema = {
  type: 'record',
  name: 'TransactionKey',
  namespace: 'cdc',
  fields: [
    { name: 'shard', type: 'int' },
    { name: 'txId', type: 'long' },
  ],
};

export const transactionValueSchema = {
  type: 'record',
  name: 'TransactionBoundary',
  namespace: 'cdc',
  fields: [
    { name: 'status', type: 'string', doc: 'BEGIN or END' },
    { name: 'shard', type: 'int' },
    { name: 'txId', type: 'long' },
    { name: 'lsn', type: 'long', doc: 'commit LSN' },
    { name: 'commitTs', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'eventCount', type: 'long', doc: 'change events of the transaction (END only; 0 on BEGIN)' },
    {
      name: 'dataCollections',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'DataCollection',
          fields: [
            { name: 'topic', type: 'string' },
            { name: 'eventCount', type: 'long' },
          ],
        },
      },
      default: [],
    },
  ],
};
