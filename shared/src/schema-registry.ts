// A deep import on purpose: the package's index also loads every cloud KMS SDK (AWS, Azure, GCP), which
// costs about a second of start-up per process and is not used here.
import { SchemaRegistryClient, type Compatibility } from '@confluentinc/schemaregistry/dist/schemaregistry-client';
import avro from 'avsc';
import type { RegistryConfig } from './config-common';
import { PoisonEventError, RetryableError } from './errors';
import type { SchemaLookup } from './schema-archive';

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
const slabBytes = 256 * 1024;

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
  /** Compiled types by schema fingerprint (hex): what a record with schema headers is decoded with. */
  private readonly typesByFingerprint = new Map<string, Promise<avro.Type>>();
  /** Types of the schemas this codec registered itself: the writer's synchronous encoding path. */
  private readonly registered = new Map<number, avro.Type>();
  /** The schema text each of those ids was registered with. */
  private readonly registeredText = new Map<number, string>();
  /** Encoded records are views into a shared slab: one allocation per slab, not two per record. */
  private slab = Buffer.allocUnsafe(slabBytes);
  private slabUsed = 0;

  constructor(
    readonly client: SchemaRegistryClient,
    /** The fleet's schema archive (see schema-archive.ts), for records whose id the registry maps to another schema. */
    private readonly archive?: SchemaLookup,
  ) {}

  /** Sets the compatibility rule, for one subject or (without one) the registry's default. */
  async setCompatibility(level: RegistryConfig['compatibility'], subject?: string): Promise<void> {
    const update = { compatibility: level as Compatibility };
    try {
      if (subject) await this.client.updateConfig(subject, update);
      else await this.client.updateDefaultConfig(update);
    } catch (error) {
      // Apicurio answers a concurrent setter of the same subject's rule with "A rule named 'COMPATIBILITY'
      // already exists": the rule is set, which is all this call is for.
      if (!/rule named 'COMPATIBILITY' already exists/i.test(String((error as Error).message ?? error))) throw error;
    }
  }

  /** Registers `schema` under `subject` (idempotent for an identical schema); returns its id. */
  async register(subject: string, schema: object): Promise<number> {
    const text = JSON.stringify(schema);
    // Past the client's caches: an id it cached for this schema may be older than a registry restarted empty,
    // where that id now names another schema (the key's cached id handed out again to a new value schema).
    // Registrations are rare (a table's first change in a session, a schema change), so asking costs nothing.
    this.client.clearCaches();
    const id = await this.client.register(subject, { schemaType: 'AVRO', schema: text }, false);
    // A registry restarted empty hands its ids out again from 1, to whatever is registered first: an id this
    // codec knew may now stand for another schema, and encoding with the old one would write bytes the id
    // does not describe. The registry's latest answer for the id wins.
    if (this.registeredText.get(id) !== text) {
      const type = compile(schema);
      this.registered.set(id, type);
      this.registeredText.set(id, text);
      this.types.set(id, Promise.resolve(type));
    }
    return id;
  }

  /** The latest schema registered under `subject`, or undefined when it has none. */
  async latestSchema(subject: string): Promise<object | undefined> {
    try {
      return JSON.parse((await this.client.getLatestSchemaMetadata(subject)).schema) as object;
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }

  /**
   * Asks the registry, past every cache, whether `subject` still maps `schema` to `id`. False when it does
   * not (an in-memory registry restarted empty, or the subject was deleted and registered again); throws
   * when the registry cannot answer.
   */
  async confirm(entries: Array<{ subject: string; schema: object; id: number }>): Promise<boolean> {
    this.client.clearCaches();
    const answers = await Promise.all(
      entries.map(({ subject, schema }) =>
        this.client.getId(subject, { schemaType: 'AVRO', schema: JSON.stringify(schema) }).catch((error: unknown) => {
          if ((error as { status?: number }).status === 404) return undefined;
          throw error;
        }),
      ),
    );
    return answers.every((id, index) => id === entries[index]!.id);
  }

  /**
   * Encodes with a schema this codec registered (`register`), without a promise per record: the reader's
   * hot path. Throws for any other id: a writer encodes only with ids the registry gave it for its schema.
   */
  encode(schemaId: number, record: unknown): Buffer {
    const type = this.registered.get(schemaId);
    if (!type) throw new Error(`schema id ${schemaId} was not registered by this writer`);
    for (;;) {
      const start = this.slabUsed;
      if (this.slab.length - start > wireHeaderBytes) {
        this.slab.writeUInt8(0, start);
        this.slab.writeUInt32BE(schemaId, start + 1);
        // avsc returns the end position, or (negative) how many bytes were missing.
        const end = type.encode(record, this.slab, start + wireHeaderBytes);
        if (end > 0) {
          this.slabUsed = end;
          return this.slab.subarray(start, end);
        }
        this.slab = Buffer.allocUnsafe(Math.max(slabBytes, 2 * (this.slab.length - start - end)));
      } else {
        this.slab = Buffer.allocUnsafe(slabBytes);
      }
      this.slabUsed = 0;
    }
  }

  async serialize(_topic: string, _part: 'key' | 'value', schemaId: number, record: unknown): Promise<Buffer> {
    const type = await this.typeOf(schemaId);
    return withWireHeader(schemaId, type.toBuffer(record));
  }

  /**
   * Decodes one record. Throws a `PoisonEventError` (kind `undecodable`) for bytes that can never be decoded
   * (no wire header, truncated or invalid Avro for a schema the registry knows), and a `RetryableError`
   * (kind `registry-unavailable`) when the schema cannot be had now: the registry refuses connections, times
   * out, answers 5xx, or does not know the id (yet) — an in-memory registry restarted empty knows no id
   * until the writers register again. Only the first kind may ever be dead-lettered.
   *
   * With `fingerprint` (the record's schema header) the record is decoded only with the schema of that
   * fingerprint: the registry's for the id when it is that one, else the schema archive's.
   */
  async deserialize(_topic: string, _part: 'key' | 'value', payload: Buffer, fingerprint?: Buffer): Promise<unknown> {
    if (payload.length < wireHeaderBytes || payload.readUInt8(0) !== 0)
      throw new PoisonEventError('undecodable', 'not in the Confluent wire format (magic byte 0 + schema id)');
    const schemaId = payload.readUInt32BE(1);
    let type: avro.Type;
    try {
      type = await (fingerprint ? this.typeWithFingerprint(schemaId, fingerprint.toString('hex')) : this.typeOf(schemaId));
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

  /** The compiled type of the schema with `fingerprint`, found once (see `findByFingerprint`). */
  private typeWithFingerprint(schemaId: number, fingerprint: string): Promise<avro.Type> {
    let type = this.typesByFingerprint.get(fingerprint);
    if (!type) {
      type = this.findByFingerprint(schemaId, fingerprint);
      type.catch(() => this.typesByFingerprint.delete(fingerprint));
      this.typesByFingerprint.set(fingerprint, type);
    }
    return type;
  }

  /**
   * The registry's schema for the id when its fingerprint is the record's; asked again past the caches when
   * it is not (the cached answer may be older than a registry restart); else the archive's. Neither holding
   * it is an outage, retried by the caller: the registry may not have its schemas back yet, and the archive
   * record of a transaction that just committed may still be on its way.
   */
  private async findByFingerprint(schemaId: number, fingerprint: string): Promise<avro.Type> {
    let registryProblem: unknown;
    for (const fresh of [false, true]) {
      if (fresh) {
        this.types.delete(schemaId);
        this.client.clearCaches();
      }
      try {
        const type = await this.typeOf(schemaId);
        if (type.fingerprint().toString('hex') === fingerprint) return type;
        registryProblem = new Error(`the registry's schema ${schemaId} is not the record's (fingerprint ${fingerprint})`);
      } catch (error) {
        registryProblem = error;
        break;
      }
    }
    const text = await this.archive?.find(fingerprint);
    if (text !== undefined) {
      const type = compile(JSON.parse(text) as object);
      if (type.fingerprint().toString('hex') === fingerprint) return type;
    }
    throw new RetryableError(
      'schema-unknown',
      `neither the registry (${(registryProblem as Error)?.message ?? String(registryProblem)}) nor the schema archive holds the schema with fingerprint ${fingerprint}`,
      { cause: registryProblem },
    );
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

function withWireHeader(schemaId: number, body: Buffer): Buffer {
  const payload = Buffer.allocUnsafe(wireHeaderBytes + body.length);
  payload.writeUInt8(0, 0);
  payload.writeUInt32BE(schemaId, 1);
  body.copy(payload, wireHeaderBytes);
  return payload;
}

/** A schema the registry serves that is not valid Avro can never decode anything: poison, not an outage. */
function compileFetched(schemaId: number, text: string): avro.Type {
  try {
    return compile(JSON.parse(text) as object);
  } catch (error) {
    throw new PoisonEventError('undecodable', `schema ${schemaId} is not valid Avro: ${(error as Error).message}`, { cause: error });
  }
}

/** The MD5 fingerprint of a schema's Parsing Canonical Form: what a record's schema header carries. */
export function schemaFingerprint(schema: object): Buffer {
  return compile(schema).fingerprint();
}

function compile(schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { typeHook: bigintLongHook });
}
