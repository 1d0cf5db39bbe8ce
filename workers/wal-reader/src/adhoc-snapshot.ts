/** One ad-hoc snapshot asked for: which captured table, under which id (for logs and the progress record). */
export interface SnapshotRequest {
  id: string;
  /** `schema.table` */
  table: string;
}

/** Reads a signal's content; undefined (with the reason) when it is not a usable request. */
export function parseSnapshotSignal(content: Buffer): { request?: SnapshotRequest; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch {
    return { problem: 'the content is not JSON' };
  }
  const { id, table } = (raw ?? {}) as { id?: unknown; table?: unknown };
  if (typeof table !== 'string' || !/^[^.\s]+\.[^.\s]+$/.test(table)) return { problem: 'table must be "schema.table"' };
  return { request: { id: typeof id === 'string' && id !== '' ? id : `${table}@unnamed`, table } };
}
