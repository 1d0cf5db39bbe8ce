import { Client } from 'pg';

/** Two booked postings whose windows share records of one partition: those records are booked twice. */
export interface OverlappingPostings {
  first: string;
  second: string;
}

/** `<topic>:<partition>:<from>-<to>`, or a line of a split posting: `<that>/line/<n>`. */
const postingIdPattern = /^(.+):(\d+):(\d+)-(\d+)(\/line\/\d+)?$/;

/**
 * Reads the reference ERP's booked postings and answers the pairs whose windows overlap. A posting id is
 * its window's place in Kafka (workers/erp-adapter/README.md, "Deterministic windows"): a replay must send
 * the same id, so windows that overlap without being the same one mean a record went into two postings.
 * The lines of one split posting share its window and are not compared with each other.
 */
export async function overlappingPostings(receiversDatabaseUrl: string): Promise<OverlappingPostings[]> {
  const client = new Client({ connectionString: receiversDatabaseUrl });
  await client.connect();
  let ids: string[];
  try {
    ids = (await client.query<{ posting_id: string }>('select posting_id from erp.erp_postings')).rows.map((row) => row.posting_id);
  } finally {
    await client.end();
  }
  const windows = new Map<string, { window: string; from: bigint; to: bigint; id: string }[]>();
  for (const id of ids) {
    const match = postingIdPattern.exec(id);
    if (!match) continue;
    const [, topic, partition, from, to] = match;
    const key = `${topic}:${partition}`;
    windows.set(key, [...(windows.get(key) ?? []), { window: `${key}:${from}-${to}`, from: BigInt(from!), to: BigInt(to!), id }]);
  }
  const overlaps: OverlappingPostings[] = [];
  for (const entries of windows.values()) {
    entries.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
    for (let i = 0; i < entries.length; i++)
      for (let j = i + 1; j < entries.length && entries[j]!.from <= entries[i]!.to; j++)
        if (entries[j]!.window !== entries[i]!.window) overlaps.push({ first: entries[i]!.id, second: entries[j]!.id });
  }
  return overlaps;
}

/** Every booked line of one (sku, warehouse): which postings moved it, and by how much. */
export async function postingLinesOf(
  receiversDatabaseUrl: string,
  sku: string,
  warehouse: string,
): Promise<{ postingId: string; deltaOnHand: number; deltaReserved: number }[]> {
  const client = new Client({ connectionString: receiversDatabaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ posting_id: string; delta_on_hand: string; delta_reserved: string }>(
      'select posting_id, delta_on_hand, delta_reserved from erp.erp_lines where sku = $1 and warehouse = $2 order by posting_id',
      [sku, warehouse],
    );
    return result.rows.map((row) => ({
      postingId: row.posting_id,
      deltaOnHand: Number(row.delta_on_hand),
      deltaReserved: Number(row.delta_reserved),
    }));
  } finally {
    await client.end();
  }
}
