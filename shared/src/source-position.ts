/**
 * Where a change came from: (shard, commit LSN of its transaction, sequence within the transaction).
 *
 * Within one shard this orders every change totally: transactions are replicated in commit order, so the
 * commit LSN orders transactions, and `seq` orders the changes inside one. The LSN of a change's own WAL
 * record is not enough: several changes can share one LSN (multi-row INSERT, COPY) and a transaction's
 * changes interleave with other transactions' in the WAL. Snapshot rows carry the slot's consistent point
 * as their LSN, which sorts before every change streamed after the snapshot.
 *
 * A row lives in exactly one shard, so comparing positions of one row never crosses shards.
 */
export interface SourcePosition {
  shard: number;
  commitLsn: bigint;
  seq: number;
}

const lsnPattern = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses an LSN in either of Postgres's spellings (`0/152FDD0` or zero-padded `00000000/0152FDD0`). */
export function parseLsn(text: string): bigint {
  const match = lsnPattern.exec(text);
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Formats an LSN the way Postgres prints it (`16/B374D848`). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * The one string form of a position: fixed-width lower-case hex, so plain string comparison (in
 * TypeScript, Lua and logs alike) orders positions of one shard correctly.
 * `ssss:llllllllllllllll:qqqqqqqq` = shard (4), commit LSN (16), seq (8).
 */
export function encodePosition(position: SourcePosition): string {
  return `${position.shard.toString(16).padStart(4, '0')}:${position.commitLsn.toString(16).padStart(16, '0')}:${position.seq
    .toString(16)
    .padStart(8, '0')}`;
}

export function decodePosition(text: string): SourcePosition {
  const [shard, lsn, seq] = text.split(':');
  if (shard?.length !== 4 || lsn?.length !== 16 || seq?.length !== 8) throw new Error(`not a source position: ${JSON.stringify(text)}`);
  return { shard: parseInt(shard, 16), commitLsn: BigInt(`0x${lsn}`), seq: parseInt(seq, 16) };
}

/** Negative when `a` is older than `b`; both must be of the same shard. */
export function comparePositions(a: SourcePosition, b: SourcePosition): number {
  if (a.shard !== b.shard) throw new Error(`positions of different shards are not ordered (${a.shard}, ${b.shard})`);
  if (a.commitLsn !== b.commitLsn) return a.commitLsn < b.commitLsn ? -1 : 1;
  return a.seq - b.seq;
}
