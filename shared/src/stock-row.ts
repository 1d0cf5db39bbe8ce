import type { ChangeEnvelope } from './change-event';

/** Longest SKU or warehouse code the sinks accept (the ERP's and the WMS's field limits). */
const maxKeyLength = 200;

/**
 * Why a stock event's row key (sku, warehouse) can reach no sink, or undefined when it is fine.
 *
 * Every sink keys on it: Redis fields `oh:<warehouse>` (an empty warehouse gives `oh:`, which readers of
 * the hash ignore, so the SKU's total would differ from its visible warehouses), the hash tag `{<sku>}`
 * (a brace would move the key to another cluster slot), the WMS's and the ERP's lines. A key that fails
 * here is poison for every sink alike, dead-lettered with this reason, never half-applied. Truncates
 * and tombstones carry no row and pass.
 */
export function stockKeyProblem(envelope: ChangeEnvelope | null): string | undefined {
  if (!envelope || envelope.op === 't') return undefined;
  return stockRowKeyProblem(envelope.op === 'd' ? envelope.before : envelope.after);
}

/**
 * The same judgement for a row read from Postgres directly (a rebuild, an audit): a row whose events the
 * sinks dead-letter must not reach them by another path either.
 */
export function stockRowKeyProblem(row: { readonly sku?: unknown; readonly warehouse?: unknown } | null | undefined): string | undefined {
  for (const column of ['sku', 'warehouse'] as const) {
    const value = row?.[column];
    if (typeof value !== 'string') return `${column} is missing`;
    if (value.length === 0) return `${column} is empty`;
    if (value.length > maxKeyLength) return `${column} is longer than ${maxKeyLength} characters`;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f{}]/.test(value)) return `${column} ${JSON.stringify(value)} holds a control character or a brace`;
    if (value.trim() !== value) return `${column} ${JSON.stringify(value)} has leading or trailing blanks`;
  }
  return undefined;
}
