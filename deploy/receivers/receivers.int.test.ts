import { signedRequestHeaders } from '@inventory-cdc/shared';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { Client } from 'pg';
import { testStackEndpoints, uniqueName } from '@inventory-cdc/shared/testing';
import { startErpReceiver } from './erp-receiver';
import type { RunningReceiver } from './receiver-server';
import { startWmsReceiver } from './wms-receiver';

const token = 'test-token';
const hmacSecret = 'test-hmac-secret';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

interface Send {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Sign and authenticate as a well-behaved client would (default true), with `headers`' idempotency key. */
  signed?: boolean;
  /** The signature's time, Unix seconds (default now). */
  timestampSeconds?: number;
  timeoutMs?: number;
}

/** One request on a fresh connection, so a dropped socket never poisons the next test's request. */
function send(port: number, path: string, options: Send = {}): Promise<Reply> {
  const raw = options.body === undefined ? '' : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const method = options.method ?? 'POST';
  const idempotencyKey = options.headers?.['idempotency-key'] ?? 'none';
  const timestampSeconds = options.timestampSeconds ?? Math.floor(Date.now() / 1000);
  const auth =
    options.signed === false
      ? {}
      : {
          authorization: `Bearer ${token}`,
          ...signedRequestHeaders({ method, path, idempotencyKey, timestampSeconds, nonce: randomUUID(), body: raw }, hmacSecret),
        };
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false,
        headers: { 'content-type': 'application/json', ...auth, ...options.headers },
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: text ? (JSON.parse(text) as unknown) : undefined });
        });
      },
    );
    if (options.timeoutMs) outgoing.setTimeout(options.timeoutMs, () => outgoing.destroy(new Error('client gave up')));
    outgoing.on('error', reject);
    outgoing.end(raw);
  });
}

const admin = (port: number, method: string, path: string, body?: unknown): Promise<Reply> =>
  send(port, `/admin/${path}`, { method, body, signed: false });

let change = 0;
/** A fresh, valid WMS stock change for `sku`, with its own idempotency key. */
function stockChange(sku: string, position: string, onHand: number, op = 'u'): { key: string; body: Record<string, unknown> } {
  change += 1;
  return {
    key: `change-${change}`,
    body: { sku, warehouse: 'WH-A', onHand, reserved: 1, available: onHand - 1, position, op, commitTs: new Date().toISOString() },
  };
}

function urlOfDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const at = (seq: number): string => `0000:0000000000abc000:${seq.toString(16).padStart(8, '0')}`;

describe('reference receivers', () => {
  const shard = testStackEndpoints().shards[0]!;
  const database = uniqueName('receivers');
  const databaseUrl = urlOfDatabase(shard.url, database);
  let wms: RunningReceiver;
  let erp: RunningReceiver;

  const postChange = (c: { key: string; body: unknown }, options: Send = {}): Promise<Reply> =>
    send(wms.port, '/v1/stock-changes', { body: c.body, headers: { 'idempotency-key': c.key }, ...options });

  beforeAll(async () => {
    const client = new Client({ connectionString: shard.url });
    await client.connect();
    await client.query(`create database ${database}`);
    await client.end();
    // Both share one database: each keeps to its own schema.
    [wms, erp] = await Promise.all([
      startWmsReceiver({ port: 0, databaseUrl, token, hmacSecret }),
      startErpReceiver({ port: 0, databaseUrl, token, hmacSecret }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([wms?.close(), erp?.close()]);
    const client = new Client({ connectionString: shard.url });
    await client.connect();
    await client.query(`drop database if exists ${database} with (force)`);
    await client.end();
  });

  beforeEach(async () => {
    for (const port of [wms.port, erp.port]) {
      await admin(port, 'POST', 'reset');
      await admin(port, 'DELETE', 'faults');
    }
  });

  it('stores a signed WMS change once and counts the repeat as a duplicate', async () => {
    const c = stockChange('SKU-1', at(1), 10);
    expect(await postChange(c)).toMatchObject({ status: 201, body: { status: 'applied' } });
    expect(await postChange(c)).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect((await admin(wms.port, 'GET', 'state')).body).toEqual({ received: 2, applied: 1, duplicates: 1, rejected: 0, outOfOrder: 0 });
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([
      { sku: 'SKU-1', warehouse: 'WH-A', onHand: 10, reserved: 1, available: 9, position: at(1) },
    ]);
  });

  /** A change's headers as a client with `secret` signs them, over `body`, at `timestampSeconds`. */
  const signedHeaders = (
    c: { key: string; body: unknown },
    secret = hmacSecret,
    body = JSON.stringify(c.body),
  ): Record<string, string> => ({
    authorization: `Bearer ${token}`,
    ...signedRequestHeaders(
      {
        method: 'POST',
        path: '/v1/stock-changes',
        idempotencyKey: c.key,
        timestampSeconds: Math.floor(Date.now() / 1000),
        nonce: randomUUID(),
        body,
      },
      secret,
    ),
  });
  const sendAsIs = (c: { body: unknown }, headers: Record<string, string>): Promise<Reply> =>
    send(wms.port, '/v1/stock-changes', { body: c.body, signed: false, headers });

  it('refuses a forged signature, a wrong token or a missing Idempotency-Key with 401 and stores nothing', async () => {
    const c = stockChange('SKU-1', at(1), 10);
    expect(await sendAsIs(c, signedHeaders(c, hmacSecret, '{}'))).toMatchObject({ status: 401, body: { error: 'bad signature' } });
    expect(await sendAsIs(c, signedHeaders(c, 'a-guessed-secret'))).toMatchObject({ status: 401, body: { error: 'bad signature' } });
    const wrongToken = await postChange(c, { headers: { 'idempotency-key': c.key, authorization: 'Bearer nope' } });
    expect(wrongToken.status).toBe(401);
    const keyless = signedHeaders(c);
    delete keyless['idempotency-key'];
    expect(await sendAsIs(c, keyless)).toMatchObject({ status: 401, body: { error: /Idempotency-Key/ } });
    expect((await admin(wms.port, 'GET', 'state')).body).toMatchObject({ received: 4, applied: 0, rejected: 4 });
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([]);
  });

  it('refuses a captured request replayed as is or under a fresh key, and one signed outside the time window', async () => {
    const c = stockChange('SKU-R', at(1), 10);
    const captured = signedHeaders(c);
    expect(await sendAsIs(c, captured)).toMatchObject({ status: 201, body: { status: 'applied' } });
    // The same bytes and signature again: its nonce is known, so it is refused as a replay.
    expect(await sendAsIs(c, captured)).toMatchObject({ status: 409, body: { error: 'replayed request' } });
    // A client's retry is a new attempt (new timestamp and nonce) under the same key: a duplicate.
    expect(await sendAsIs(c, signedHeaders(c))).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect(await sendAsIs(c, { ...captured, 'idempotency-key': 'change-fresh' })).toMatchObject({
      status: 401,
      body: { error: 'bad signature' },
    });
    const stale = stockChange('SKU-R', at(2), 3);
    const old = await postChange(stale, { timestampSeconds: Math.floor(Date.now() / 1000) - 301 });
    expect(old).toMatchObject({ status: 401, body: { error: 'signature timestamp outside the 300 s window' } });
    const future = await postChange(stale, { timestampSeconds: Math.floor(Date.now() / 1000) + 301 });
    expect(future.status).toBe(401);
    expect((await admin(wms.port, 'GET', 'state')).body).toEqual({ received: 6, applied: 1, duplicates: 1, rejected: 4, outOfOrder: 0 });
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([expect.objectContaining({ sku: 'SKU-R', onHand: 10, position: at(1) })]);
  });

  it('answers 400 naming the field for a malformed change', async () => {
    const c = stockChange('SKU-1', at(1), 10);
    expect(await postChange({ key: c.key, body: { ...c.body, onHand: '10' } })).toMatchObject({ status: 400, body: { error: /onHand/ } });
    expect(await postChange({ key: c.key, body: '{"sku":' })).toMatchObject({ status: 400, body: { error: 'malformed JSON' } });
  });

  it('a truncation removes the shard’s rows older than it, keeps newer rows and other shards’, once per key', async () => {
    const other = (seq: number): string => `0001:0000000000abc000:${seq.toString(16).padStart(8, '0')}`;
    for (const [sku, where] of [
      ['SKU-1', at(1)],
      ['SKU-2', at(5)],
      ['SKU-3', other(1)],
    ] as const)
      expect((await postChange(stockChange(sku, where, 4))).status).toBe(201);
    const truncation = { key: 'truncate-1', body: { op: 't', shard: 0, position: at(3), commitTs: new Date().toISOString() } };
    expect(await postChange(truncation)).toMatchObject({ status: 201, body: { status: 'applied' } });
    expect(await postChange(truncation)).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    const stock = (await admin(wms.port, 'GET', 'stock')).body as { sku: string }[];
    expect(stock.map((row) => row.sku)).toEqual(['SKU-2', 'SKU-3']);
  });

  it('keeps newer stock when an older position arrives later, and counts it out of order', async () => {
    expect((await postChange(stockChange('SKU-2', at(0x20), 5))).status).toBe(201);
    expect((await postChange(stockChange('SKU-2', at(0x1f), 99))).status).toBe(201);
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([
      expect.objectContaining({ sku: 'SKU-2', onHand: 5, position: at(0x20) }),
    ]);
    expect((await admin(wms.port, 'GET', 'state')).body).toMatchObject({ applied: 2, outOfOrder: 1 });
    expect((await postChange(stockChange('SKU-2', at(0x21), 0, 'd'))).status).toBe(201);
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([]);
  });

  it('ignores a delete older than the stock, counting it out of order; after a delete an older change stays out', async () => {
    expect((await postChange(stockChange('SKU-7', at(0x20), 5))).status).toBe(201);
    expect((await postChange(stockChange('SKU-7', at(0x10), 0, 'd'))).status).toBe(201);
    // An equal position is neither newer nor out of order: the stock stays.
    expect((await postChange(stockChange('SKU-7', at(0x20), 0, 'd'))).status).toBe(201);
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([
      expect.objectContaining({ sku: 'SKU-7', onHand: 5, position: at(0x20) }),
    ]);
    expect((await admin(wms.port, 'GET', 'state')).body).toEqual({ received: 3, applied: 3, duplicates: 0, rejected: 0, outOfOrder: 1 });
    expect((await postChange(stockChange('SKU-7', at(0x30), 0, 'd'))).status).toBe(201);
    // Older than the delete (a change delivered late): stored and counted out of order, the row stays deleted.
    expect((await postChange(stockChange('SKU-7', at(0x18), 7))).status).toBe(201);
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([]);
    expect((await admin(wms.port, 'GET', 'state')).body).toMatchObject({ applied: 5, outOfOrder: 2 });
    // A change newer than the delete (the row inserted again) brings it back.
    expect((await postChange(stockChange('SKU-7', at(0x31), 2, 'c'))).status).toBe(201);
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual([
      expect.objectContaining({ sku: 'SKU-7', onHand: 2, position: at(0x31) }),
    ]);
  });

  it('counts every request exactly once under concurrent requests, duplicates and refusals among them', async () => {
    const skus = ['SKU-C0', 'SKU-C1', 'SKU-C2', 'SKU-C3'];
    for (const sku of skus) expect((await postChange(stockChange(sku, at(0x100), 100))).status).toBe(201);
    // Older than the stock, each sent twice at once: one is stored (out of order), the other a duplicate.
    const older = skus.flatMap((sku) => Array.from({ length: 12 }, (_, index) => stockChange(sku, at(index + 1), index)));
    const replies = await Promise.all([
      ...older.flatMap((c) => [postChange(c), postChange(c)]),
      ...older.slice(0, 8).map((c) => postChange(c, { signed: false })),
    ]);
    const statuses = replies.map((reply) => reply.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(older.length);
    expect(statuses.filter((status) => status === 200)).toHaveLength(older.length);
    expect(statuses.filter((status) => status === 401)).toHaveLength(8);
    expect((await admin(wms.port, 'GET', 'state')).body).toEqual({
      received: skus.length + 2 * older.length + 8,
      applied: skus.length + older.length,
      duplicates: older.length,
      rejected: 8,
      outOfOrder: older.length,
    });
    expect((await admin(wms.port, 'GET', 'stock')).body).toEqual(
      skus.map((sku) => expect.objectContaining({ sku, onHand: 100, position: at(0x100) })),
    );
  });

  it('carries the counts of a database made before the counter cells over, once', async () => {
    const legacy = uniqueName('receivers_legacy');
    const admin0 = new Client({ connectionString: shard.url });
    await admin0.connect();
    await admin0.query(`create database ${legacy}`);
    const legacyUrl = urlOfDatabase(shard.url, legacy);
    const db = new Client({ connectionString: legacyUrl });
    let old: RunningReceiver | undefined;
    try {
      await db.connect();
      await db.query('create schema wms');
      await db.query(`create table wms.receiver_counters (
        receiver text not null, name text not null, value bigint not null default 0, primary key (receiver, name))`);
      await db.query(`insert into wms.receiver_counters values ('wms', 'received', 5), ('wms', 'duplicates', 2), ('wms', 'rejected', 1)`);
      old = await startWmsReceiver({ port: 0, databaseUrl: legacyUrl, token, hmacSecret });
      const expected = { received: 5, applied: 0, duplicates: 2, rejected: 1, outOfOrder: 0 };
      expect((await admin(old.port, 'GET', 'state')).body).toEqual(expected);
      expect((await db.query(`select to_regclass('wms.receiver_counters') as legacy`)).rows).toEqual([{ legacy: null }]);
      await old.close();
      old = await startWmsReceiver({ port: 0, databaseUrl: legacyUrl, token, hmacSecret });
      expect((await admin(old.port, 'GET', 'state')).body).toEqual(expected);
    } finally {
      await old?.close();
      await db.end();
      await admin0.query(`drop database if exists ${legacy} with (force)`);
      await admin0.end();
    }
  });

  it('rejects the configured SKUs permanently and only those', async () => {
    expect((await admin(wms.port, 'PUT', 'faults', { rejectSkus: ['SKU-BAD'] })).status).toBe(200);
    expect(await postChange(stockChange('SKU-BAD', at(1), 1))).toMatchObject({ status: 400, body: { error: 'sku rejected' } });
    expect((await postChange(stockChange('SKU-OK', at(1), 1))).status).toBe(201);
    expect((await admin(wms.port, 'GET', 'state')).body).toMatchObject({ applied: 1, rejected: 1 });
  });

  it('rate-limits with 429 and Retry-After, storing nothing', async () => {
    await admin(wms.port, 'PUT', 'faults', { rateLimitRate: 1, retryAfterSeconds: 3 });
    const reply = await postChange(stockChange('SKU-3', at(1), 1));
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('3');
    expect((await admin(wms.port, 'GET', 'state')).body).toMatchObject({ received: 1, applied: 0 });
  });

  it('stores a change and then resets the connection, so the retry is a duplicate', async () => {
    await admin(wms.port, 'PUT', 'faults', { dropAfterProcessingRate: 1 });
    const c = stockChange('SKU-4', at(1), 4);
    await expect(postChange(c)).rejects.toThrow(/socket hang up|ECONNRESET/);
    await admin(wms.port, 'DELETE', 'faults');
    expect(await postChange(c)).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect((await admin(wms.port, 'GET', 'state')).body).toMatchObject({ applied: 1, duplicates: 1 });
  });

  it('holds a timed-out request until the client gives up, storing nothing', async () => {
    await admin(wms.port, 'PUT', 'faults', { timeoutRate: 1 });
    await expect(postChange(stockChange('SKU-5', at(1), 1), { timeoutMs: 300 })).rejects.toThrow('client gave up');
    expect((await admin(wms.port, 'GET', 'state')).body).toMatchObject({ received: 1, applied: 0 });
  });

  it('validates the faults it is given', async () => {
    expect(await admin(wms.port, 'PUT', 'faults', { errorRat: 1 })).toMatchObject({ status: 400, body: { error: /errorRat/ } });
    await admin(wms.port, 'PUT', 'faults', { errorRate: 1 });
    expect((await admin(wms.port, 'GET', 'faults')).body).toMatchObject({ errorRate: 1, retryAfterSeconds: 1, rejectSkus: [] });
    expect((await postChange(stockChange('SKU-6', at(1), 1))).status).toBe(500);
  });

  it('books an ERP posting once, counts the repeat, and sums booked lines per SKU', async () => {
    const posting = (postingId: string, deltaOnHand: number): unknown => ({
      postingId,
      lines: [
        { sku: 'SKU-1', warehouse: 'WH-A', deltaOnHand, deltaReserved: 1 },
        { sku: 'SKU-2', warehouse: 'WH-A', deltaOnHand: -1, deltaReserved: 0 },
      ],
      window: { from: '0000:0000000000000000:00000000', to: '0000:0000000000abc000:00000010' },
      createdAt: new Date().toISOString(),
    });
    const post = (body: unknown): Promise<Reply> =>
      send(erp.port, '/v1/postings', { body, headers: { 'idempotency-key': (body as { postingId: string }).postingId } });
    expect(await post(posting('P-1', 5))).toMatchObject({ status: 201, body: { status: 'booked' } });
    expect(await post(posting('P-1', 5))).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect(await post(posting('P-2', -2))).toMatchObject({ status: 201, body: { status: 'booked' } });
    expect((await admin(erp.port, 'GET', 'state')).body).toEqual({ received: 3, applied: 2, duplicates: 1, rejected: 0, outOfOrder: 0 });
    expect((await admin(erp.port, 'GET', 'stock')).body).toEqual([
      { sku: 'SKU-1', warehouse: 'WH-A', deltaOnHand: 3, deltaReserved: 2 },
      { sku: 'SKU-2', warehouse: 'WH-A', deltaOnHand: -2, deltaReserved: 0 },
    ]);
    // A booked posting re-sent under a key of its own is not booked again.
    const again = posting('P-2', -2);
    expect(await send(erp.port, '/v1/postings', { body: again, headers: { 'idempotency-key': 'P-2-again' } })).toMatchObject({
      status: 400,
      body: { error: 'Idempotency-Key must be the postingId' },
    });
    // A captured posting request re-sent as is: its nonce is known, so it is refused, not even a duplicate.
    const body = JSON.stringify(posting('P-4', 1));
    const signed = { method: 'POST', path: '/v1/postings', idempotencyKey: 'P-4', timestampSeconds: Math.floor(Date.now() / 1000), body };
    const captured = { authorization: `Bearer ${token}`, ...signedRequestHeaders({ ...signed, nonce: randomUUID() }, hmacSecret) };
    expect(await send(erp.port, '/v1/postings', { body, signed: false, headers: captured })).toMatchObject({ status: 201 });
    expect(await send(erp.port, '/v1/postings', { body, signed: false, headers: captured })).toMatchObject({
      status: 409,
      body: { error: 'replayed request' },
    });
    expect((await admin(erp.port, 'GET', 'state')).body).toMatchObject({ applied: 3, duplicates: 1, rejected: 2 });
    await admin(erp.port, 'PUT', 'faults', { rejectSkus: ['SKU-2'] });
    expect(await post(posting('P-3', 1))).toMatchObject({ status: 400, body: { error: 'sku rejected' } });
  });

  it('sets a balance line rather than adding it: a snapshot posted again (another id) books nothing more', async () => {
    const posting = (postingId: string, lines: unknown[]): unknown => ({
      postingId,
      lines,
      window: { from: '0', to: '9' },
      createdAt: new Date().toISOString(),
    });
    const post = (body: unknown): Promise<Reply> =>
      send(erp.port, '/v1/postings', { body, headers: { 'idempotency-key': (body as { postingId: string }).postingId } });
    const opening = [
      { sku: 'SKU-1', warehouse: 'WH-A', onHand: 10, reserved: 2 },
      { sku: 'SKU-2', warehouse: 'WH-A', onHand: 0, reserved: 0 },
    ];
    expect((await post(posting('snapshot-1', opening))).status).toBe(201);
    expect((await post(posting('moves', [{ sku: 'SKU-1', warehouse: 'WH-A', deltaOnHand: -3, deltaReserved: 0 }]))).status).toBe(201);
    // The snapshot re-run reads the stock as it is now (7): the ERP holds 7 already, so it books 0.
    expect((await post(posting('snapshot-2', [{ ...opening[0], onHand: 7 }, opening[1]]))).status).toBe(201);
    expect((await admin(erp.port, 'GET', 'stock')).body).toEqual([
      { sku: 'SKU-1', warehouse: 'WH-A', deltaOnHand: 7, deltaReserved: 2 },
      { sku: 'SKU-2', warehouse: 'WH-A', deltaOnHand: 0, deltaReserved: 0 },
    ]);
    expect((await post(posting('mixed', [{ sku: 'SKU-1', warehouse: 'WH-A', onHand: 1, reserved: 0, deltaOnHand: 1 }]))).status).toBe(400);
  });
});
