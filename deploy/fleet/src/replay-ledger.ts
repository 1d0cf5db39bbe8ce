/**
 * Which offsets of one dead-letter partition have been replayed, kept in the replay group's committed offset
 * for that partition: every offset below `next` is done, and the offset commit's metadata lists the ones at
 * or above it that were replayed one by one (`"12-15,18"`). The ledger is committed in the same Kafka
 * transaction as the replayed records, so a record is either replayed and marked, or neither.
 */
export interface ReplayLedger {
  /** Every offset below this one is replayed (or was never there to replay). */
  next: bigint;
  /** Offsets at or above `next` replayed individually. */
  done: ReadonlySet<bigint>;
}

/** The ledger from the group's committed offset (`-1` for none) and metadata; the log's start bounds it from below. */
export function ledgerOf(committed: string, metadata: string | null, low: bigint): ReplayLedger {
  const next = committed === '-1' || committed === '' ? low : BigInt(committed) < low ? low : BigInt(committed);
  const done = new Set<bigint>();
  for (const part of (metadata ?? '').split(',').filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) throw new Error(`unreadable replay ledger metadata "${metadata}"`);
    const from = BigInt(match[1]!);
    const to = BigInt(match[2] ?? match[1]!);
    for (let offset = from; offset <= to; offset++) if (offset >= next) done.add(offset);
  }
  return { next, done };
}

export function isReplayed(ledger: ReplayLedger, offset: bigint): boolean {
  return offset < ledger.next || ledger.done.has(offset);
}

/** The ledger after `offsets` were replayed: `next` moves over every offset that is now contiguous. */
export function withReplayed(ledger: ReplayLedger, offsets: Iterable<bigint>): ReplayLedger {
  const done = new Set(ledger.done);
  for (const offset of offsets) if (offset >= ledger.next) done.add(offset);
  let next = ledger.next;
  while (done.delete(next)) next++;
  return { next, done };
}

/** The offset commit that stores the ledger. */
export function ledgerCommit(ledger: ReplayLedger): { offset: string; metadata: string } {
  const sorted = [...ledger.done].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ranges: string[] = [];
  for (let index = 0; index < sorted.length;) {
    const from = sorted[index]!;
    let to = from;
    while (sorted[index + 1] === to + 1n) to = sorted[++index]!;
    ranges.push(from === to ? `${from}` : `${from}-${to}`);
    index++;
  }
  return { offset: ledger.next.toString(), metadata: ranges.join(',') };
}

/** The offsets of `[from, to)` still to replay. */
export function pendingOffsets(ledger: ReplayLedger, from: bigint, to: bigint): bigint[] {
  const pending: bigint[] = [];
  for (let offset = from > ledger.next ? from : ledger.next; offset < to; offset++) if (!ledger.done.has(offset)) pending.push(offset);
  return pending;
}
