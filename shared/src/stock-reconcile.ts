/**
 * The reconciliation report: the stock of every (SKU, warehouse) as Postgres holds it (the truth) against
 * what each downstream system holds. One report for the demo's end-of-run check and `fleet reconcile`.
 * Pure: the views are loaded by `stock-views.ts`.
 */
export interface StockFigures {
  onHand: number;
  reserved: number;
}

/** One system's view: `sku|warehouse` → figures. A key it lacks counts as absent, not as zero. */
export type StockView = Map<string, StockFigures>;

export interface Difference {
  key: string;
  system: string;
  expected: StockFigures | undefined;
  got: StockFigures | undefined;
}

export interface Reconciliation {
  /** Rows in the truth. */
  rows: number;
  systems: string[];
  differences: Difference[];
}

export function reconcile(truth: StockView, views: Record<string, StockView>): Reconciliation {
  const differences: Difference[] = [];
  for (const [system, view] of Object.entries(views)) {
    for (const [key, expected] of truth) {
      const got = view.get(key);
      if (!got || got.onHand !== expected.onHand || got.reserved !== expected.reserved) differences.push({ key, system, expected, got });
    }
    for (const [key, got] of view) if (!truth.has(key)) differences.push({ key, system, expected: undefined, got });
  }
  return { rows: truth.size, systems: Object.keys(views), differences };
}

function figures(value: StockFigures | undefined): string {
  return value ? `on hand ${value.onHand}, reserved ${value.reserved}` : 'absent';
}

function delta(difference: Difference): string {
  const { expected, got } = difference;
  if (!expected) return 'not in Postgres';
  if (!got) return 'missing';
  const parts: string[] = [];
  if (got.onHand !== expected.onHand) parts.push(`on hand ${signed(got.onHand - expected.onHand)}`);
  if (got.reserved !== expected.reserved) parts.push(`reserved ${signed(got.reserved - expected.reserved)}`);
  return parts.join(', ');
}

function signed(value: number): string {
  return value > 0 ? `+${value}` : String(value);
}

/** The report's lines: one verdict, then (when anything differs) counts per system and the first `limit` keys. */
export function formatReconciliation(result: Reconciliation, limit = 20): string[] {
  const systems = ['Postgres', ...result.systems].join(' = ');
  if (result.differences.length === 0) return [`reconciliation: ${result.rows.toLocaleString('en')} stock rows, ${systems} on every one`];
  const lines = [
    `reconciliation: ${result.differences.length.toLocaleString('en')} differences over ${result.rows.toLocaleString('en')} stock rows`,
  ];
  for (const system of result.systems) {
    const count = result.differences.filter((difference) => difference.system === system).length;
    lines.push(`  ${system.padEnd(8)} ${count === 0 ? 'equal to Postgres' : `${count.toLocaleString('en')} keys differ`}`);
  }
  for (const difference of result.differences.slice(0, limit))
    lines.push(
      `  ${difference.system.padEnd(8)} ${difference.key.padEnd(22)} ${delta(difference)} (Postgres: ${figures(difference.expected)}; ${difference.system}: ${figures(difference.got)})`,
    );
  if (result.differences.length > limit) lines.push(`  … and ${(result.differences.length - limit).toLocaleString('en')} more`);
  return lines;
}
