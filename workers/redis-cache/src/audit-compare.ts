/**
 * The shadow audit's comparison: a slice of stock rows read from Postgres at a known source position
 * against what Redis holds for them. Pure.
 *
 * A Redis row at a position at or past the audit's is newer than the audit (the stream has moved on) and
 * says nothing about drift. A row behind the audit's position must hold the audit's figures: a difference
 * is either the stream not having arrived yet (lag) or drift (a value changed behind the fleet's back, a
 * lost write); the audit tells them apart by comparing again after a grace period.
 */
import type { StockRowFigures } from './stock-snapshot';

export interface DriftRow {
  sku: string;
  warehouse: string;
  /** The figures at the audit's position; undefined when Postgres has no such row. */
  expected: { onHand: number; reserved: number } | undefined;
  /** What Redis holds; undefined when it lacks the row. */
  got: { onHand: number; reserved: number } | undefined;
  /** The position of Redis's row (behind the audit's); undefined when Redis never saw the row. */
  redisPosition: string | undefined;
}

export interface SliceComparison {
  /** Rows compared (those whose Redis position is behind the audit's). */
  compared: number;
  /** Rows Redis holds at or past the audit's position: newer, not compared. */
  newer: number;
  drift: DriftRow[];
}

/** A warehouse's row of a stock hash (`oh:`/`rs:` present), or its position only (a delete's tombstone), or nothing. */
function redisRow(hash: Record<string, string> | undefined, warehouse: string) {
  const position = hash?.[`p:${warehouse}`];
  const onHand = hash?.[`oh:${warehouse}`];
  const reserved = hash?.[`rs:${warehouse}`];
  const figures = onHand === undefined || reserved === undefined ? undefined : { onHand: Number(onHand), reserved: Number(reserved) };
  return { position, figures };
}

/**
 * Compares `truth` (every stock row of the slice's SKUs, read at `position`) with the SKUs' stock hashes
 * (`hashes`: SKU → hash; a SKU without one is absent). Rows Redis has for the slice's SKUs that Postgres
 * lacks count as drift too, when behind the audit's position.
 */
export function compareSlice(truth: StockRowFigures[], hashes: Map<string, Record<string, string>>, position: string): SliceComparison {
  const result: SliceComparison = { compared: 0, newer: 0, drift: [] };
  const seen = new Set<string>();
  const check = (sku: string, warehouse: string, expected: DriftRow['expected']): void => {
    const { position: redisPosition, figures } = redisRow(hashes.get(sku), warehouse);
    if (redisPosition !== undefined && redisPosition >= position) {
      result.newer++;
      return;
    }
    result.compared++;
    if (figures?.onHand === expected?.onHand && figures?.reserved === expected?.reserved) return;
    result.drift.push({ sku, warehouse, expected, got: figures, redisPosition });
  };
  for (const row of truth) {
    seen.add(`${row.sku}|${row.warehouse}`);
    check(row.sku, row.warehouse, { onHand: Number(row.on_hand), reserved: Number(row.reserved) });
  }
  for (const [sku, hash] of hashes)
    for (const field of Object.keys(hash)) {
      const warehouse = /^oh:(.+)$/.exec(field)?.[1];
      if (warehouse !== undefined && !seen.has(`${sku}|${warehouse}`)) check(sku, warehouse, undefined);
    }
  return result;
}
