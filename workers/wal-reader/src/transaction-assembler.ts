import { recordsOf, type ChangeRecord, type RowChange, type TransactionContext } from './change-builder';
import type { PgoutputMessage } from './pgoutput-decode';
import type { CompiledTable } from './table-schema';

type RelationMessage = Extract<PgoutputMessage, { tag: 'relation' }>;

export interface AssemblerOptions {
  shard: number;
  database: string;
  /** Prefix of the non-transactional heartbeat messages the slot watch writes. */
  heartbeatPrefix: string;
  /** Prefix of the transactional messages that ask for an ad-hoc snapshot. */
  signalPrefix: string;
  /** Records at which an open (large) transaction is handed on as a part, to bound memory. */
  partRecords: number;
}

/** The records of one Postgres transaction, or of a part of a large one still open. */
export interface AssembledTransaction {
  context: TransactionContext;
  records: ChangeRecord[];
  /** Change events (not tombstones) of the whole transaction so far, per topic. */
  eventsByTopic: Map<string, number>;
  /** Change events of the whole transaction so far. */
  eventCount: number;
  /** Contents of snapshot signals the transaction carried (only on its last part). */
  signals: Buffer[];
}

/**
 * What one message amounts to. `relation`: the table's shape changed, and the changes after it use the new
 * one (the loop updates the catalog before it goes on); `part`: a large transaction's records so far;
 * `transaction`: the rest of a transaction, complete with its commit; `heartbeat`: a non-transactional
 * heartbeat: every transaction whose commit record starts at or before `lsn` has been delivered.
 */
export type Assembled =
  | { kind: 'relation'; message: RelationMessage }
  | { kind: 'part'; transaction: AssembledTransaction }
  | { kind: 'transaction'; transaction: AssembledTransaction; commitLsn: bigint }
  | { kind: 'heartbeat'; lsn: bigint };

/**
 * Messages in, whole transactions of change records out. Pure: no I/O and no clock of its own (`nowMs` is
 * passed in), so its order and sequence numbering are unit-tested message by message.
 *
 * pgoutput (proto 1) delivers a transaction only once it has committed, as BEGIN, its changes, COMMIT,
 * never interleaved with another, so at most one transaction is open. `seq` numbers the change events of a
 * transaction from 0 across its parts; with the commit LSN it is the events' source position.
 */
export class TransactionAssembler {
  private open: (AssembledTransaction & { seq: bigint }) | undefined;

  constructor(
    private readonly options: AssemblerOptions,
    /** The table a relation OID names now (after the latest relation message). */
    private readonly tableOf: (relationOid: number) => CompiledTable,
  ) {}

  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  accept(message: PgoutputMessage, nowMs: bigint): Assembled | undefined {
    switch (message.tag) {
      case 'relation':
        return { kind: 'relation', message };
      case 'begin':
        if (this.open) throw new Error('BEGIN inside an open transaction');
        this.open = {
          context: {
            shard: this.options.shard,
            database: this.options.database,
            commitLsn: message.finalLsn,
            txId: BigInt(message.xid),
            commitTsMicros: message.commitTimeMicros,
            snapshot: false,
          },
          records: [],
          eventsByTopic: new Map(),
          eventCount: 0,
          signals: [],
          seq: 0n,
        };
        return undefined;
      case 'insert':
        return this.change(message.relationOid, { kind: 'insert', after: message.after }, nowMs);
      case 'update':
        return this.change(message.relationOid, { kind: 'update', before: message.before, after: message.after }, nowMs);
      case 'delete':
        return this.change(message.relationOid, { kind: 'delete', before: message.before }, nowMs);
      case 'truncate': {
        let part: Assembled | undefined;
        for (const relationOid of message.relationOids) part = this.change(relationOid, { kind: 'truncate' }, nowMs) ?? part;
        return part;
      }
      case 'commit': {
        const open = this.open;
        if (!open) throw new Error('COMMIT without BEGIN');
        this.open = undefined;
        return { kind: 'transaction', transaction: open, commitLsn: open.context.commitLsn };
      }
      case 'message':
        if (message.transactional && message.prefix === this.options.signalPrefix) this.open?.signals.push(message.content);
        // A message's LSN is the END of its WAL record (Postgres queues it at the record's end pointer), which
        // is where the next record starts: a transaction whose commit record follows the heartbeat directly
        // has that very LSN as its commit LSN and has not been delivered yet. Only commits below it have.
        if (!message.transactional && message.prefix === this.options.heartbeatPrefix && !this.open)
          return { kind: 'heartbeat', lsn: message.lsn - 1n };
        return undefined;
      case 'type':
      case 'origin':
        // Non-built-in types (enums, domains) map to their text; origins are not used.
        return undefined;
    }
  }

  private change(relationOid: number, change: RowChange, nowMs: bigint): Assembled | undefined {
    const open = this.open;
    if (!open) throw new Error('row change outside a transaction');
    const table = this.tableOf(relationOid);
    const records = recordsOf(change, table, open.context, () => open.seq++, nowMs);
    let events = 0;
    for (const record of records) {
      open.records.push(record);
      if (record.value) events++;
    }
    open.eventCount += events;
    open.eventsByTopic.set(table.topic, (open.eventsByTopic.get(table.topic) ?? 0) + events);
    if (open.records.length < this.options.partRecords) return undefined;
    const part: AssembledTransaction = { ...open, records: open.records };
    open.records = [];
    return { kind: 'part', transaction: part };
  }
}
