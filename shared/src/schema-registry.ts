// A deep import on purpose: the package's index also loads every cloud KMS SDK (AWS, Azure, GCP), which
// costs about a second of start-up per process and is not used here.
import { SchemaRegistryClient, type Compatibility } from '@confluentinc/schemaregistry/dist/schemaregistry-client';
import avro from 'avsc';
import type { RegistryConfig } from './config-common';
import { PoisonEventError, RetryableError } from './errors';

/**
 * Avro `long` as a JS bigint, exact over the whole 64-bit range (avsc's default is a lossy number).
 * Int8 columns, LSNs and microsecond timestamps all travel as `long`.
 */
export const bigintLongType = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
  toBuffer: (value: bigint) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(value));
    return buffer;
  },
  fromJSON: (value: unknown) => BigInt(value as string),
  toJSON: (value: bigint) => Number(value),
  isValid: (value: unknown) => typeof value === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/**
 * Every `long` (logical types included) becomes the bigint type. A type hook rather than avsc's
 * `registry` option: a shared registry would reject the second version of a record name as a duplicate.
 */
function bigintLongHook(schema: avro.Schema): avro.Type | undefined {
  const isLong =
    schema === 'long' || (typeof schema === 'object' && !Array.isArray(schema) && (schema as { type?: unknown }).type === 'long');
  return isLong ? bigintLongType : undefined;
}

export function createRegistryClient(config: RegistryConfig): SchemaRegistryClient {
  return new SchemaRegistryClient({
    baseURLs: [config.url],
    ...(config.basicAuth
      ? { basicAuthCredentials: { credentialsSource: 'USER_INFO', userInfo: `${config.basicAuth.username}:${config.basicAuth.password}` } }
      : {}),
    maxRetries: 3,
    retriesWaitMs: 200,
    retriesMaxWaitMs: 2_000,
  });
}

/** Confluent wire format: magic byte 0, then the schema id as a 4-byte big-endian integer, then Avro. */
const wireHeaderBytes = 5;

/**
 * Avro in the Confluent wire format, with explicitly registered schemas only: a schema is registered on
 * purpose (`register`) and every serialize names its id (the library would otherwise infer a schema from
 * the object and could auto-register it).
 *
 * Encoding and decoding use avsc directly on the hot path, with one compiled type per schema id: the
 * library's serde runs its rule engine per message and measured ~250 µs per serialize here, which capped
 * the reader at a few hundred transactions per second. The registry client (lookups, registration,
 * compatibility) stays the library's; the wire format is five header bytes.
 */
export class AvroCodec {
  private readonly types = new Map<number, Promise<avro.Type>>();

  constructor(readonly client: SchemaRegistryClient) {}

  /** Sets the compatibility rule, for one subject or (without one) the registry's default. */
  async setCompatibility(level: RegistryConfig['compatibility'], subject?: string): Promise<void> {
    const update = { compatibility: level as Compatibility };
    if (subject) await this.client.updateConfig(subject, update);
    else await this.client.updateDefaultConfig(update);
  }

  /** Registers `schema` under `subject` (idempotent for an identical schema); returns its id. */
  async register(subject: string, schema: object): Promise<number> {
    const id = await this.client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(schema) }, false);
    if (!this.types.has(id)) this.types.set(id, Promise.resolve(compile(schema)));
    return id;
  }

  async serialize(_topic: string, _part: 'key' | 'value', schemaId: number, record: unknown): Promise<Buffer> {
    const type = await this.typeOf(schemaId);
    const body = type.toBuffer(record);
    const payload = Buffer.allocUnsafe(wireHeaderBytes + body.length);
    payload.writeUInt8(0, 0);
    payload.writeUInt32BE(schemaId, 1);
    body.copy(payload, wireHeaderBytes);
    return payload;
  }

  /**
   * Decodes one record. Throws a `PoisonEventError` (kind `undecodable`) for bytes that can never be decoded
   * (no wire header, truncated or invalid Avro for a schema the registry knows), and a `RetryableError`
   * (kind `registry-unavailable`) when the schema cannot be had now: the registry refuses connections, times
   * out, answers 5xx, or does not know the id (yet) — an in-memory registry restarted empty knows no id
   * until the writers register again. Only the first kind may ever be dead-lettered.
   */
  async deserialize(_topic: string, _part: 'key' | 'value', payload: Buffer): Promise<unknown> {
    if (payload.length < wireHeaderBytes || payload.readUInt8(0) !== 0)
      throw new PoisonEventError('undecodable', 'not in the Confluent wire format (magic byte 0 + schema id)');
    const schemaId = payload.readUInt32BE(1);
    let type: avro.Type;
    try {
      type = await this.typeOf(schemaId);
    } catch (error) {
      if (error instanceof PoisonEventError) throw error;
      throw new RetryableError('registry-unavailable', `schema ${schemaId} unavailable: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      });
    }
    try {
      return type.fromBuffer(payload.subarray(wireHeaderBytes));
    } catch (error) {
      throw new PoisonEventError('undecodable', `schema ${schemaId}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
  }

  /** The compiled type of a schema id, fetched from the registry once. */
  private typeOf(schemaId: number): Promise<avro.Type> {
    let type = this.types.get(schemaId);
    if (!type) {
      type = this.client.getBySubjectAndId('', schemaId).then((info) => compileFetched(schemaId, info.schema));
      type.catch(() => this.types.delete(schemaId));
      this.types.set(schemaId, type);
    }
    return type;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** A schema the registry serves that is not valid Avro can never decode anything: poison, not an outage. */
function compileFetched(schemaId: number, text: string): avro.Type {
  try {
    return compile(JSON.parse(text) as object);
  } catch (error) {
    throw new PoisonEventError('undecodable', `schema ${schemaId} is not valid Avro: ${(error as Error).message}`, { cause: error });
  }
}

function compile(schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { typeHook: bigintLongHook });
}
