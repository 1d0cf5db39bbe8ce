import type { IHeaders } from 'kafkajs';
import { encodePosition, type SourcePosition } from './source-position';

/** A change event's value as the wal-reader writes it (see workers/wal-reader/README.md). */
export interface ChangeEnvelope {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  op: 'c' | 'u' | 'd' | 'r' | 't';
  source: {
    shard: number;
    database: string;
    schema: string;
    table: string;
    lsn: bigint;
    txId: bigint;
    commitTs: bigint;
    snapshot: boolean;
    seq: bigint;
  };
  unchangedToast: string[];
  tsMs: bigint;
}

/** One consumed record, decoded: a change event, or a tombstone (no envelope). */
export interface ConsumedChange {
  topic: string;
  partition: number;
  offset: string;
  key: Record<string, unknown> | null;
  envelope: ChangeEnvelope | null;
  /** Source position of a change event (null for a tombstone). */
  position: SourcePosition | null;
  /** `position` in its sortable string form. */
  positionText: string | null;
  rawKey: Buffer | null;
  rawValue: Buffer | null;
  /** The record's headers: the schema fingerprints (schema-archive.ts) travel here. */
  headers?: IHeaders;
}

export function positionOf(envelope: ChangeEnvelope): SourcePosition {
  return { shard: envelope.source.shard, commitLsn: envelope.source.lsn, seq: Number(envelope.source.seq) };
}

/** Checks the shape sinks rely on; a value that is Avro-valid but not an envelope is a poison event. */
export function asEnvelope(value: unknown): ChangeEnvelope {
  const envelope = value as Partial<ChangeEnvelope> | null;
  if (
    !envelope ||
    typeof envelope !== 'object' ||
    typeof envelope.op !== 'string' ||
    typeof envelope.source !== 'object' ||
    envelope.source === null
  ) {
    throw new Error('not a change envelope (op and source are required)');
  }
  if (typeof envelope.source.lsn !== 'bigint' || typeof envelope.source.seq !== 'bigint')
    throw new Error('change envelope without a source position');
  return envelope as ChangeEnvelope;
}

export function describePosition(envelope: ChangeEnvelope): string {
  return encodePosition(positionOf(envelope));
}
