import type { ColumnValue, PgoutputMessage } from './pgoutput-decode';
import { PgTypeOids } from './pg-value-codec';
import { compileTable, type TableShape } from './table-schema';
import { TransactionAssembler, type Assembled } from './transaction-assembler';

const shape: TableShape = {
  relationOid: 11,
  schema: 'inventory',
  table: 'stock',
  replicaIdentity: 'default',
  columns: [
    { name: 'sku', isKey: true, typeOid: PgTypeOids.text, typeMod: -1 },
    { name: 'qty', isKey: false, typeOid: PgTypeOids.int4, typeMod: -1 },
  ],
  primaryKey: ['sku'],
};
const table = compileTable(shape, 'p.inventory.stock');
const text = (value: string): ColumnValue => ({ kind: 'value', text: value });

const begin = (finalLsn: bigint, xid = 7): PgoutputMessage => ({ tag: 'begin', finalLsn, commitTimeMicros: 1_000n, xid });
const commit = (commitLsn: bigint): PgoutputMessage => ({
  tag: 'commit',
  flags: 0,
  commitLsn,
  endLsn: commitLsn + 8n,
  commitTimeMicros: 1_000n,
});
const insert = (sku: string, qty: number): PgoutputMessage => ({ tag: 'insert', relationOid: 11, after: [text(sku), text(String(qty))] });
const remove = (sku: string): PgoutputMessage => ({
  tag: 'delete',
  relationOid: 11,
  before: { kind: 'key', values: [text(sku), { kind: 'null' }] },
});
const message = (transactional: boolean, prefix: string, lsn = 0x500n): PgoutputMessage => ({
  tag: 'message',
  transactional,
  lsn,
  prefix,
  content: Buffer.from('{"table":"inventory.stock"}'),
});

function assembler(partRecords = 100): TransactionAssembler {
  return new TransactionAssembler({ shard: 3, database: 'inventory', heartbeatPrefix: 'hb', signalPrefix: 'snap', partRecords }, (oid) => {
    if (oid !== 11) throw new Error(`unknown relation ${oid}`);
    return table;
  });
}

function feed(target: TransactionAssembler, messages: PgoutputMessage[]): Assembled[] {
  return messages.flatMap((item) => target.accept(item, 42n) ?? []);
}

/** (kind, commit LSN, seqs of the change events, ops) of each output, for compact expectations. */
function summary(outputs: Assembled[]): Array<[string, string, number[], string[]]> {
  return outputs.map((output) => {
    if (output.kind === 'relation') return ['relation', '', [], []];
    if (output.kind === 'heartbeat') return ['heartbeat', output.lsn.toString(16), [], []];
    const { records, context } = output.transaction;
    return [
      output.kind,
      context.commitLsn.toString(16),
      records.flatMap((record) => (record.value ? [Number(record.value.source.seq)] : [])),
      records.map((record) => record.value?.op ?? 'tombstone'),
    ];
  });
}

describe('TransactionAssembler', () => {
  it('turns BEGIN, changes, COMMIT into one transaction whose events are numbered from 0 at its commit LSN', () => {
    const out = feed(assembler(), [
      begin(0x100n),
      insert('A', 1),
      insert('B', 2),
      commit(0x100n),
      begin(0x200n),
      insert('C', 3),
      commit(0x200n),
    ]);
    expect(summary(out)).toEqual([
      ['transaction', '100', [0, 1], ['c', 'c']],
      ['transaction', '200', [0], ['c']],
    ]);
    const first = out[0] as Extract<Assembled, { kind: 'transaction' }>;
    expect(first.commitLsn).toBe(0x100n);
    expect(first.transaction.context).toMatchObject({ shard: 3, database: 'inventory', txId: 7n, snapshot: false });
    expect(first.transaction.eventCount).toBe(2);
    expect([...first.transaction.eventsByTopic]).toEqual([['p.inventory.stock', 2]]);
  });

  it('hands a large transaction on in parts, numbering across them, the last part with the commit', () => {
    const out = feed(assembler(2), [begin(0x300n), insert('A', 1), insert('B', 2), insert('C', 3), remove('D'), commit(0x300n)]);
    // A delete is an event plus its tombstone; one change's records are never split between parts.
    expect(summary(out)).toEqual([
      ['part', '300', [0, 1], ['c', 'c']],
      ['part', '300', [2, 3], ['c', 'd', 'tombstone']],
      ['transaction', '300', [], []],
    ]);
    expect((out[2] as Extract<Assembled, { kind: 'transaction' }>).transaction.eventCount).toBe(4);
  });

  it('passes relation messages on in place and reports heartbeats only between transactions, just below their LSN', () => {
    const relation: PgoutputMessage = {
      tag: 'relation',
      relationOid: 11,
      schema: 'inventory',
      table: 'stock',
      replicaIdentity: 'default',
      columns: [],
    };
    const out = feed(assembler(), [
      message(false, 'hb', 0x90n),
      begin(0x100n),
      relation,
      message(false, 'hb', 0x95n),
      insert('A', 1),
      commit(0x100n),
    ]);
    expect(summary(out)).toEqual([
      // The heartbeat's LSN is its record's end, where a commit record may start: delivered is only below it.
      ['heartbeat', '8f', [], []],
      ['relation', '', [], []],
      ['transaction', '100', [0], ['c']],
    ]);
  });

  it('collects snapshot signals of a transaction and ignores other prefixes and non-transactional signals', () => {
    const out = feed(assembler(), [message(false, 'snap'), begin(0x100n), message(true, 'snap'), message(true, 'other'), commit(0x100n)]);
    expect(out).toHaveLength(1);
    const [only] = out as Array<Extract<Assembled, { kind: 'transaction' }>>;
    expect(only!.transaction.signals.map(String)).toEqual(['{"table":"inventory.stock"}']);
    expect(only!.transaction.records).toEqual([]);
  });

  it('refuses messages out of protocol order', () => {
    expect(() => feed(assembler(), [insert('A', 1)])).toThrow('row change outside a transaction');
    expect(() => feed(assembler(), [commit(0x100n)])).toThrow('COMMIT without BEGIN');
    expect(() => feed(assembler(), [begin(0x100n), begin(0x200n)])).toThrow('BEGIN inside an open transaction');
  });

  it('reports a truncate of several tables as one event per table', () => {
    const out = feed(assembler(), [
      begin(0x100n),
      { tag: 'truncate', relationOids: [11, 11], cascade: false, restartIdentity: false },
      commit(0x100n),
    ]);
    expect(summary(out)).toEqual([['transaction', '100', [0, 1], ['t', 't']]]);
  });
});
