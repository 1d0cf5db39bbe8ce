import type { WindowRange } from './window-assembler';

/**
 * Why a window is booked once, whatever happens to the worker.
 *
 * The ERP deduplicates on the posting id, and the posting id is the window's offset range
 * (`<topic>:<partition>:<from>-<to>`). So a window can be sent any number of times as long as every
 * attempt covers exactly the same offsets. Offsets alone do not guarantee that: a window cut by time ends
 * wherever the clock happened to stop it, and a replay after a crash would cut `[from, c]` instead of
 * `[from, to]` — a different id, so the ERP would book the records of `[from, to]` a second time.
 *
 * Hence the **window marker**: before the first POST of a window, the adapter commits the partition's
 * offset unchanged at `from`, with `{from, to}` in the offset commit's metadata (the consumer group's own
 * storage, written atomically with the offset and fenced by the group generation). The protocol per
 * window is:
 *
 *   1. commit `from` + marker `{from, to}`      (nothing posted yet, so nothing to undo if this is lost)
 *   2. POST the posting, retrying               (the ERP books it once: 201 booked, then 200 duplicate)
 *   3. commit `to + 1`, no marker               (the window is done)
 *
 * A crash before 1 leaves no marker and nothing posted: the replay cuts freely. A crash between 1 and 3
 * leaves the marker, and the replay starts at `from`, finds the marker and cuts `[from, to]` again: same
 * id, so the ERP books it at most once. After 3 the window is behind the committed offset and never read
 * again. A rebalance is the same as a crash for the partition's next owner, which reads the marker from
 * the group. Hence at every instant the ERP holds each window exactly once, or not yet: its postings add
 * up to the net change per SKU.
 *
 * A **split** window: when the ERP refuses a posting of several lines (a 4xx other than 401/403), one bad
 * line must not cost the others, so the window is sent again one line per posting (id
 * `<postingId>/line/<n>`, n the line's place in the sorted lines, which the same records always give).
 * Before the first line posting the marker is committed again with `split: true`: a replay then sends the
 * lines again, never the whole posting, which the ERP had refused and so never booked. Lines are booked at
 * most once each; only the records of lines refused on their own are dead-lettered.
 */
export function encodeMarker(range: WindowRange, split = false): string {
  return JSON.stringify({ erpWindow: { from: range.from.toString(), to: range.to.toString(), ...(split ? { split: true } : {}) } });
}

/** What the committed metadata says about the partition's pending window. */
export type MarkerReading =
  { kind: 'none' } | { kind: 'pending'; range: WindowRange; split: boolean } | { kind: 'invalid'; detail: string };

/**
 * Reads the marker committed with `committedOffset`. A marker whose `from` is not the committed offset
 * (the offset was reset by an operator since) no longer describes what will be replayed: `invalid`.
 */
export function decodeMarker(metadata: string | null | undefined, committedOffset: bigint): MarkerReading {
  if (!metadata) return { kind: 'none' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata);
  } catch {
    return { kind: 'invalid', detail: `offset metadata is not JSON: ${metadata.slice(0, 200)}` };
  }
  const window = (parsed as { erpWindow?: { from?: unknown; to?: unknown; split?: unknown } } | null)?.erpWindow;
  if (typeof window?.from !== 'string' || typeof window.to !== 'string' || !/^\d+$/.test(window.from) || !/^\d+$/.test(window.to)) {
    return { kind: 'invalid', detail: `offset metadata is not an erp window marker: ${metadata.slice(0, 200)}` };
  }
  const range = { from: BigInt(window.from), to: BigInt(window.to) };
  if (range.from !== committedOffset || range.to < range.from) {
    return { kind: 'invalid', detail: `marker [${range.from}, ${range.to}] does not start at the committed offset ${committedOffset}` };
  }
  return { kind: 'pending', range, split: window.split === true };
}
