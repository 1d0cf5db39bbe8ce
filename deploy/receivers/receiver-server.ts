/**
 * The HTTP plumbing the WMS and ERP reference receivers share: body reading, bearer token and signature checks,
 * fault injection around the store, and the `/admin` routes a test drives them with.
 *
 * These receivers are test equipment standing in for the real WMS and ERP; nothing in the worker fleet
 * imports them. A receiver only differs in its one ingest route (how a body is validated and stored) and
 * in what its `/admin/stock` shows, which is what `ReceiverDefinition` captures.
 */
import { signatureHeaders, verifySignature } from '@inventory-cdc/shared';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import pino, { type Logger } from 'pino';
import { FaultState, parseFaultSettings, type FaultDecision } from './receiver-faults';
import {
  incrementCounters,
  openReceiverStore,
  readCounts,
  resetReceiver,
  type CounterName,
  type ReceiverName,
  type ReplayGuard,
} from './receiver-store';

export interface ReceiverOptions {
  /** Interface to listen on. Default 127.0.0.1: the admin routes have no auth, so keep this on loopback. */
  host?: string;
  /** 0 = any free port (read the chosen one from the result). */
  port: number;
  /** Database the receiver creates its schema in (the caller creates the database). */
  databaseUrl: string;
  /** Expected `Authorization: Bearer <token>`. */
  token: string;
  /** Key of the `X-Signature: v1=<hex>` HMAC over method, target, idempotency key, timestamp and body. */
  hmacSecret: string;
  /**
   * How far a request's `X-Signature-Timestamp` may lie from the receiver's clock, either way, in seconds.
   * Default 300: a captured request can be re-sent for at most that long (and only under its own key,
   * which is answered as a duplicate).
   */
  signatureWindowSeconds?: number;
  /** The receiver's clock in ms; tests move it. Default Date.now. */
  clock?: () => number;
  /** Default: silent. */
  logger?: Logger;
  /** Source of chance for fault rates; tests inject a fixed sequence. Default Math.random. */
  random?: () => number;
}

export interface RunningReceiver {
  port: number;
  close(): Promise<void>;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** What makes a receiver a WMS or an ERP. */
export interface ReceiverDefinition<T> {
  name: ReceiverName;
  /** The one ingest route, e.g. `/v1/stock-changes` (POST). */
  ingestPath: string;
  /**
   * Validates an ingest request: the JSON body, plus what it needs of `idempotencyKey` (signed, so
   * present): the WMS stores changes under it, the ERP requires it to be the posting id.
   */
  parse(body: unknown, idempotencyKey: string): Parsed<T>;
  /** The SKUs a request names, for `rejectSkus`. */
  skusOf(request: T): string[];
  /**
   * Stores the request and counts it as received, in the same transaction (one round trip on the hot
   * path); answers with the status and body for the client.
   */
  store(pool: Pool, request: T, replay: ReplayGuard): Promise<{ status: number; body: Record<string, unknown> }>;
  /** What `GET /admin/stock` shows. */
  readStock(pool: Pool): Promise<unknown[]>;
}

const maxBodyBytes = 1024 * 1024;

class BodyTooLarge extends Error {}

interface Context<T> {
  definition: ReceiverDefinition<T>;
  options: ReceiverOptions;
  pool: Pool;
  faults: FaultState;
  logger: Logger;
  /** Aborted by close(), so pending latency sleeps end instead of holding the process open. */
  closing: AbortController;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) reject(new BodyTooLarge());
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
    request.on('close', () => reject(new Error('client went away before sending the whole body')));
  });
}

function answer(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.destroyed || response.headersSent) return;
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Compares digests, not the strings, so the comparison is constant-time whatever the lengths. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The answer to a stored request: 201 stored now, 200 a duplicate of its idempotency key, 409 a replayed
 * request (its signature nonce was seen before: refused, nothing stored).
 */
export function answerOf(status: string): { status: number; body: Record<string, unknown> } {
  if (status === 'replayed') return { status: 409, body: { error: 'replayed request' } };
  return { status: status === 'duplicate' ? 200 : 201, body: { status } };
}

/** Default of `ReceiverOptions.signatureWindowSeconds`. */
export const defaultSignatureWindowSeconds = 300;

/**
 * The signed idempotency key when the request may proceed, else the 401 error message: the bearer token,
 * then the signature over method, target, key, timestamp and body (see `shared/src/request-signature.ts`),
 * then the timestamp's age.
 */
export function checkCredentials(
  request: Pick<IncomingMessage, 'headers' | 'method' | 'url'>,
  body: Buffer,
  options: Pick<ReceiverOptions, 'token' | 'hmacSecret' | 'signatureWindowSeconds' | 'clock'>,
): { ok: true; idempotencyKey: string; nonce: string } | { ok: false; error: string } {
  const { headers } = request;
  const authorization = singleHeader(headers, 'authorization') ?? '';
  if (!authorization.startsWith('Bearer ') || !sameSecret(authorization.slice('Bearer '.length), options.token))
    return { ok: false, error: 'unauthorized' };
  const received = {
    signature: singleHeader(headers, signatureHeaders.signature),
    timestamp: singleHeader(headers, signatureHeaders.timestamp),
    nonce: singleHeader(headers, signatureHeaders.nonce),
    idempotencyKey: singleHeader(headers, signatureHeaders.idempotencyKey),
  };
  const verdict = verifySignature(received, { method: request.method ?? '', path: request.url ?? '', body }, options.hmacSecret, {
    nowMs: (options.clock ?? Date.now)(),
    windowSeconds: options.signatureWindowSeconds ?? defaultSignatureWindowSeconds,
  });
  return verdict.ok ? { ok: true, idempotencyKey: received.idempotencyKey!, nonce: verdict.nonce } : { ok: false, error: verdict.reason };
}

function parseJson(body: Buffer): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false, error: 'malformed JSON' };
  }
}

/**
 * Answers a refused /v1 request and counts it as rejected: the client must not retry these. `counters`:
 * the ones to add 1 to, 'rejected' and, when not counted yet, 'received'.
 */
async function refuse<T>(
  context: Context<T>,
  response: ServerResponse,
  status: number,
  error: string,
  counters: CounterName[],
): Promise<void> {
  await incrementCounters(context.pool, context.definition.name, counters);
  context.logger.info({ status, error }, 'request refused');
  answer(response, status, { error }, status === 401 ? { 'www-authenticate': 'Bearer' } : {});
}

async function wait<T>(context: Context<T>, latencyMs: number): Promise<void> {
  if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: context.closing.signal });
}

type Admission<T> = { ok: true; value: T; replay: ReplayGuard } | { ok: false; status: number; error: string };

/** The request's value, or the status and error it is refused with. */
function admit<T>(context: Context<T>, request: IncomingMessage, body: Buffer): Admission<T> {
  const { definition, options } = context;
  const credentials = checkCredentials(request, body, options);
  if (!credentials.ok) return { ok: false, status: 401, error: credentials.error };
  if (request.url !== definition.ingestPath) return { ok: false, status: 404, error: `no route ${request.url ?? ''}` };
  if (request.method !== 'POST') return { ok: false, status: 405, error: 'method not allowed' };
  const json = parseJson(body);
  const parsed = json.ok ? definition.parse(json.value, credentials.idempotencyKey) : json;
  if (!parsed.ok) return { ok: false, status: 400, error: parsed.error };
  const windowSeconds = options.signatureWindowSeconds ?? defaultSignatureWindowSeconds;
  return { ok: true, value: parsed.value, replay: { nonce: credentials.nonce, windowSeconds } };
}

/**
 * Every /v1 request is counted as received exactly once, together with whatever else counts it where
 * that is possible: a refusal with 'rejected', a processed request by the store in the transaction that
 * stores it, so the hot path costs one round trip to Postgres, not two.
 */
async function handleIngest<T>(context: Context<T>, request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<void> {
  const { definition, pool } = context;
  const admitted = admit(context, request, body);
  if (!admitted.ok) return refuse(context, response, admitted.status, admitted.error, ['received', 'rejected']);
  const decision = context.faults.decide(definition.skusOf(admitted.value));
  if (decision.action !== 'process') await incrementCounters(pool, definition.name, ['received']);
  await applyDecision(context, response, admitted, decision);
}

async function applyDecision<T>(
  context: Context<T>,
  response: ServerResponse,
  { value, replay }: { value: T; replay: ReplayGuard },
  decision: FaultDecision,
): Promise<void> {
  if (decision.action !== 'process') context.logger.info({ fault: decision }, 'fault injected');
  switch (decision.action) {
    case 'reject-sku':
      await wait(context, decision.latencyMs);
      return refuse(context, response, 400, 'sku rejected', ['rejected']);
    case 'rate-limit':
      await wait(context, decision.latencyMs);
      return answer(response, 429, { error: 'rate limited' }, { 'retry-after': String(decision.retryAfterSeconds) });
    case 'error':
      await wait(context, decision.latencyMs);
      return answer(response, 500, { error: 'injected error' });
    case 'timeout':
      return; // Never answered: the socket stays open until the client gives up or close() ends it.
    case 'process': {
      const result = await context.definition.store(context.pool, value, replay).catch(async (error: unknown) => {
        // The store's one transaction, its count of the request as received with it, normally rolled back: count it here.
        await incrementCounters(context.pool, context.definition.name, ['received']).catch(() => undefined);
        throw error;
      });
      context.logger.debug({ status: result.status, result: result.body }, 'request processed');
      if (decision.dropAfterProcessing) {
        context.logger.info('dropping the connection after processing');
        response.socket?.destroy();
        return;
      }
      await wait(context, decision.latencyMs);
      return answer(response, result.status, result.body);
    }
  }
}

function isLoopback(address: string | undefined): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address ?? '');
}

async function handleAdmin<T>(context: Context<T>, request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<void> {
  const { definition, pool, faults } = context;
  if (!isLoopback(request.socket.remoteAddress)) return answer(response, 403, { error: 'admin routes answer loopback only' });
  const route = `${request.method ?? ''} ${request.url ?? ''}`;
  switch (route) {
    case 'GET /admin/faults':
      return answer(response, 200, faults.current());
    case 'PUT /admin/faults': {
      const json = parseJson(body);
      const parsed = json.ok ? parseFaultSettings(json.value) : json;
      if (!parsed.ok) return answer(response, 400, { error: parsed.error });
      faults.replace(parsed.faults);
      context.logger.info({ faults: parsed.faults }, 'faults set');
      return answer(response, 200, faults.current());
    }
    case 'DELETE /admin/faults':
      faults.clear();
      context.logger.info('faults cleared');
      return answer(response, 200, faults.current());
    case 'GET /admin/state':
      return answer(response, 200, await readCounts(pool, definition.name));
    case 'GET /admin/stock':
      return answer(response, 200, await definition.readStock(pool));
    case 'POST /admin/reset':
      await resetReceiver(pool, definition.name);
      context.logger.info('receiver reset');
      return answer(response, 200, { status: 'reset' });
    default:
      return answer(response, 404, { error: `no route ${route}` });
  }
}

async function handle<T>(context: Context<T>, request: IncomingMessage, response: ServerResponse): Promise<void> {
  let body: Buffer;
  try {
    body = await readBody(request);
  } catch (error) {
    if (!(error instanceof BodyTooLarge)) throw error;
    return answer(response, 413, { error: `body larger than ${maxBodyBytes} bytes` }, { connection: 'close' });
  }
  const path = request.url ?? '';
  if (path.startsWith('/admin/')) return handleAdmin(context, request, response, body);
  if (path.startsWith('/v1/')) return handleIngest(context, request, response, body);
  answer(response, 404, { error: `no route ${path}` });
}

function onRequest<T>(context: Context<T>): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    handle(context, request, response).catch((error: unknown) => {
      if (context.closing.signal.aborted) return response.socket?.destroy();
      context.logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
      answer(response, 500, { error: 'internal error' });
    });
  };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Opens the store (creating the schema), then listens. `close()` ends held requests, the server and the pool. */
export async function startReceiver<T>(definition: ReceiverDefinition<T>, options: ReceiverOptions): Promise<RunningReceiver> {
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ receiver: definition.name });
  const pool = await openReceiverStore(options.databaseUrl, definition.name, (error) =>
    logger.warn({ err: error }, 'idle database client failed'),
  );
  const context: Context<T> = { definition, options, pool, logger, faults: new FaultState(options.random), closing: new AbortController() };
  const server = createServer(onRequest(context));
  let port: number;
  try {
    port = await listen(server, options.host ?? '127.0.0.1', options.port);
  } catch (error) {
    await pool.end();
    throw error;
  }
  logger.info({ host: options.host ?? '127.0.0.1', port }, 'receiver listening');
  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    context.closing.abort();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    // Requests held by the timeout fault would otherwise keep server.close() waiting forever.
    server.closeAllConnections();
    await stopped;
    await pool.end();
    logger.info('receiver closed');
  };
  return { port, close: () => (closed ??= close()) };
}
