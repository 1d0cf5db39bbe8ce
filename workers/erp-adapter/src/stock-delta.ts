import type { ChangeEnvelope } from '@inventory-cdc/shared';

/** The change one stock event makes to one (sku, warehouse): what the ERP books. */
export interface StockDelta {
  sku: string;
  warehouse: string;
  deltaOnHand: number;
  deltaReserved: number;
}

/**
 * The whole stock of one (sku, warehouse) as a snapshot read it: the ERP sets its balance to it (books
 * the difference to what it holds), so a snapshot read any number of times books the opening stock once.
 * On the wire it is told from a delta line by its fields (`onHand`/`reserved` instead of `delta…`).
 */
export interface StockBalance {
  sku: string;
  warehouse: string;
  onHand: number;
  reserved: number;
}

/** One line of a posting: a movement, or a balance to set. */
export type StockLine = StockDelta | StockBalance;

export function isBalance(line: StockLine): line is StockBalance {
  return 'onHand' in line;
}

/** Bounded reasons (dead-letter `reason` label values) for a stock event the ERP can never be told about. */
export type PoisonReason = 'no-before-image' | 'malformed' | 'truncate' | 'undecodable' | 'invalid';

/** What one consumed record means for the ERP. */
export type DeltaOutcome =
  | { kind: 'delta'; delta: StockDelta }
  /** A snapshot read: the balance to set, never to add (the snapshot may be read again). */
  | { kind: 'balance'; balance: StockBalance }
  /** Nothing to book: a tombstone (the delete before it carried the change). */
  | { kind: 'none' }
  | { kind: 'poison'; reason: PoisonReason; detail: string };

interface StockQuantities {
  onHand: number;
  reserved: number;
}

function quantity(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(value);
  return undefined;
}

/** The quantities of a whole row image, or undefined when the image lacks them (a key-only before image). */
function quantitiesOf(row: Record<string, unknown> | null): StockQuantities | undefined {
  const onHand = quantity(row?.on_hand);
  const reserved = quantity(row?.reserved);
  return onHand === undefined || reserved === undefined ? undefined : { onHand, reserved };
}

function keyOf(row: Record<string, unknown> | null): { sku: string; warehouse: string } | undefined {
  const sku = row?.sku;
  const warehouse = row?.warehouse;
  return typeof sku === 'string' && typeof warehouse === 'string' ? { sku, warehouse } : undefined;
}

/**
 * The stock delta a change event carries: c adds the new row, u adds after − before, d subtracts the
 * deleted row. A snapshot read (r) is the row's whole stock, a balance: the reader re-runs the snapshot
 * after a crash mid-snapshot, a slot reset or in `when-needed` mode, so adding it would book the opening
 * stock again each time; setting it books it once. Updates and deletes need
 * the whole before image, which Postgres writes only with REPLICA IDENTITY FULL; without it the change
 * cannot be expressed as a delta and is a poison event (`no-before-image`) rather than a wrong booking.
 */
export function stockDeltaOf(envelope: ChangeEnvelope | null, where: string): DeltaOutcome {
  if (!envelope) return { kind: 'none' };
  // An ad-hoc re-snapshot (source.txId = the signalling transaction's, not the initial snapshot's 0)
  // re-reads stock the ERP has already booked: it is state, not a movement, so it books nothing.
  if (envelope.op === 'r' && envelope.source.txId !== 0n) return { kind: 'none' };
  if (envelope.op === 't') {
    return { kind: 'poison', reason: 'truncate', detail: `stock truncated at ${where}: the ERP needs a manual correcting posting` };
  }
  const row = envelope.op === 'd' ? envelope.before : envelope.after;
  const key = keyOf(row);
  if (!key) return { kind: 'poison', reason: 'malformed', detail: `stock event at ${where} has no sku/warehouse` };
  const after = envelope.op === 'd' ? { onHand: 0, reserved: 0 } : quantitiesOf(envelope.after);
  if (!after) return { kind: 'poison', reason: 'malformed', detail: `stock event at ${where} lacks on_hand/reserved` };
  if (envelope.op === 'r') return { kind: 'balance', balance: { ...key, onHand: after.onHand, reserved: after.reserved } };
  if (envelope.op === 'c') {
    return { kind: 'delta', delta: { ...key, deltaOnHand: after.onHand, deltaReserved: after.reserved } };
  }
  const before = quantitiesOf(envelope.before);
  if (!before) {
    return {
      kind: 'poison',
      reason: 'no-before-image',
      detail: `${envelope.op === 'd' ? 'delete' : 'update'} at ${where} has no before image: set REPLICA IDENTITY FULL on ${envelope.source.schema}.${envelope.source.table}`,
    };
  }
  return { kind: 'delta', delta: { ...key, deltaOnHand: after.onHand - before.onHand, deltaReserved: after.reserved - before.reserved } };
}
