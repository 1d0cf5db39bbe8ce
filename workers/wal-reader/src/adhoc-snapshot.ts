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
  if (typeof table !== 'string' || !/^[^.\s]+\.[^.\s]+$/.test(table) || table.length > 200)
    return { problem: 'table must be "schema.table", at most 200 characters' };
  if (typeof id !== 'string' || id === '' || id.length > 100) return { problem: 'id must be a string of 1 to 100 characters' };
  return { request: { id, table } };
}
