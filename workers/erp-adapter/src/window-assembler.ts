import type { WindowLimits } from './erp-config';

/** An inclusive range of one partition's offsets: the records one posting stands for. */
export interface WindowRange {
  from: bigint;
  to: bigint;
}

/** A window the assembler has closed: the range it covers and its records, in offset order. */
export interface ClosedWindow<R> {
  range: WindowRange;
  records: R[];
}

interface OpenWindow<R> {
  from: bigint;
  last: bigint;
  records: R[];
  /** When the window is cut by time (see `timeCutOf`). */
  dueAtMs: number;
}

/**
 * The shortest hold of a window after its first record arrived, as a share of `maxAgeMs`: a consumer that
 * runs behind receives records already older than a window, and would otherwise post each fetch alone.
 */
const minimumHoldShare = 0.25;

/**
 * Cuts one partition's records into windows. Pure: the caller feeds records in offset order with the
 * time they arrived, and asks again when time passes (`tick`) or the fetch position moves past records it
 * never saw (`passPosition`: aborted transactions, control records, compaction).
 *
 * Two rules:
 * - **Limits** (the normal case): a window is cut after `maxEvents` records, or once `maxAgeMs` has passed
 *   since its first record's source commit — whichever comes first — so a change reaches the ERP within
 *   one posting window of its commit, not one window after it reached the adapter. Bounds: a window is
 *   held at least a quarter of `maxAgeMs` and at most `maxAgeMs` after its first record arrived (a record
 *   without a commit time, or a source clock ahead of ours, counts from its arrival). Where a time cut
 *   falls depends on timing, so it differs between runs.
 * - **Replay** (`pending` given): a window that was cut, marked and maybe posted before a crash or a
 *   rebalance is cut again at exactly the same offsets, `[pending.from, pending.to]`, whatever the limits
 *   and the timing say now; only then do the limits take over. This is what makes a replayed window carry
 *   the same posting id as the first attempt (see window-marker.ts).
 */
export class WindowAssembler<R> {
  private open: OpenWindow<R> | undefined;
  private replay: WindowRange | undefined;

  constructor(
    private readonly limits: WindowLimits,
    pending?: WindowRange,
  ) {
    this.replay = pending;
  }

  /** The range being replayed, until its window is closed. */
  get replaying(): WindowRange | undefined {
    return this.replay;
  }

  /** Records held in the open window. */
  get buffered(): number {
    return this.open?.records.length ?? 0;
  }

  /**
   * Adds the record at `offset`, which arrived at `nowMs` and was committed at the source at `commitMs`
   * (undefined: not known, e.g. a tombstone); returns the windows this closes (before it, with it, or both).
   */
  add(offset: bigint, record: R, nowMs: number, commitMs?: number): ClosedWindow<R>[] {
    const closed: ClosedWindow<R>[] = [];
    if (this.replay) {
      if (offset <= this.replay.to) {
        this.append(offset, record, nowMs, commitMs, this.replay.from);
        if (offset === this.replay.to) closed.push(this.closeReplay());
        return closed;
      }
      closed.push(this.closeReplay());
    }
    if (this.open && nowMs >= this.open.dueAtMs) closed.push(this.close(this.open.last));
    this.append(offset, record, nowMs, commitMs, offset);
    if (this.open && this.open.records.length >= this.limits.maxEvents) closed.push(this.close(this.open.last));
    return closed;
  }

  /**
   * The partition's fetch position is now `nextOffset`: nothing below it will arrive any more. Closes a
   * replayed window whose last records are not there to be seen (filtered or compacted away).
   */
  passPosition(nextOffset: bigint): ClosedWindow<R>[] {
    return this.replay && nextOffset > this.replay.to ? [this.closeReplay()] : [];
  }

  /** Time has passed: closes the open window once its time cut is due (never a replayed one). */
  tick(nowMs: number): ClosedWindow<R>[] {
    if (this.replay || !this.open || nowMs < this.open.dueAtMs) return [];
    return [this.close(this.open.last)];
  }

  /** When `tick` will close the open window; undefined when no time cut is pending. */
  dueAtMs(): number | undefined {
    return this.replay || !this.open ? undefined : this.open.dueAtMs;
  }

  /** The time cut of a window whose first record arrived at `arrivedMs` and was committed at `commitMs`. */
  private timeCutOf(arrivedMs: number, commitMs: number | undefined): number {
    const { maxAgeMs } = this.limits;
    const latest = arrivedMs + maxAgeMs;
    const byCommit = commitMs === undefined ? latest : Math.min(commitMs + maxAgeMs, latest);
    return Math.max(byCommit, arrivedMs + maxAgeMs * minimumHoldShare);
  }

  private append(offset: bigint, record: R, nowMs: number, commitMs: number | undefined, from: bigint): void {
    if (this.open && offset <= this.open.last)
      throw new RangeError(`offset ${offset} is not after ${this.open.last}: records must come in offset order`);
    this.open ??= { from, last: offset, records: [], dueAtMs: this.timeCutOf(nowMs, commitMs) };
    this.open.records.push(record);
    this.open.last = offset;
  }

  private closeReplay(): ClosedWindow<R> {
    const range = this.replay!;
    this.replay = undefined;
    const records = this.open?.records ?? [];
    this.open = undefined;
    return { range, records };
  }

  private close(to: bigint): ClosedWindow<R> {
    const window = { range: { from: this.open!.from, to }, records: this.open!.records };
    this.open = undefined;
    return window;
  }
}
