import type { ReadRecord } from './topic-reader';

interface Envelope {
  op: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source?: { lsn?: unknown; txId?: unknown };
}

function text(value: unknown): string {
  return JSON.stringify(value, (_, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner)) ?? 'null';
}

/**
 * Where a topic read with read_committed does not chain per row: with REPLICA IDENTITY FULL every update's
 * and delete's before image is the row as the previous event of its key left it, so a lost change shows as
 * a before image that differs from the previous after image, a doubled one as a before image equal to an
 * older after image. A snapshot read (r) starts a row's chain afresh (a re-snapshot may follow changes);
 * a tombstone (no value) says nothing. Records of a partition must be in offset order, as a consumer
 * hands them out. Each break names the key, both records' partition/offset and source positions.
 */
export function rowChainBreaks(records: ReadRecord[]): string[] {
  const last = new Map<string, { image: string | null; at: string }>();
  const breaks: string[] = [];
  for (const record of records) {
    const envelope = record.value as Envelope | null;
    if (!envelope) continue;
    const key = `${record.topic}|${text(record.key)}`;
    const at = `${record.partition}/${record.offset} (${envelope.op} lsn ${text(envelope.source?.lsn)} tx ${text(envelope.source?.txId)})`;
    const previous = last.get(key);
    if (envelope.op !== 'r' && previous) {
      const before = envelope.op === 'c' ? null : text(envelope.before);
      if (before !== previous.image) breaks.push(`${key}: ${at} starts from ${before}, but ${previous.at} left ${previous.image}`);
    }
    last.set(key, { image: envelope.op === 'd' ? null : text(envelope.after), at });
  }
  return breaks;
}
