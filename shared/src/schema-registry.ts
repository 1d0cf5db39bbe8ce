import {
  AvroDeserializer,
  AvroSerializer,
  type Compatibility,
  SchemaRegistryClient,
  SerdeType,
  type AvroSerdeConfig,
} from '@confluentinc/schemaregistry';
import avro from 'avsc';
import type { RegistryConfig } from './config-common';

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
 * A type hook rather than avsc's `registry` option: the serde reuses its options object across schemas,
 * and a shared registry would reject the second version of a record name as a duplicate.
 */
const avroOptions: AvroSerdeConfig = {
  typeHook: (schema: avro.Schema) => {
    const isLong =
      schema === 'long' || (typeof schema === 'object' && !Array.isArray(schema) && (schema as { type?: unknown }).type === 'long');
    return isLong ? bigintLongType : undefined;
  },
};

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

/**
 * Avro encoding in the Confluent wire format with explicitly registered schemas only. The library would
 * otherwise infer a schema from the object and auto-register it; here a schema is registered on purpose
 * (`register`) and every serialize names the schema id it was registered under.
 */
export class AvroCodec {
  private readonly serializers = new Map<string, AvroSerializer>();
  private readonly keyDeserializer: AvroDeserializer;
  private readonly valueDeserializer: AvroDeserializer;

  constructor(readonly client: SchemaRegistryClient) {
    this.keyDeserializer = new AvroDeserializer(client, SerdeType.KEY, { ...avroOptions });
    this.valueDeserializer = new AvroDeserializer(client, SerdeType.VALUE, { ...avroOptions });
  }

  /** Sets the compatibility rule, for one subject or (without one) the registry's default. */
  async setCompatibility(level: RegistryConfig['compatibility'], subject?: string): Promise<void> {
    const update = { compatibility: level as Compatibility };
    if (subject) await this.client.updateConfig(subject, update);
    else await this.client.updateDefaultConfig(update);
  }

  /** Registers `schema` under `subject` (idempotent for an identical schema); returns its id. */
  async register(subject: string, schema: object): Promise<number> {
    return this.client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(schema) }, false);
  }

  async serialize(topic: string, part: 'key' | 'value', schemaId: number, record: unknown): Promise<Buffer> {
    const cacheKey = `${part}:${schemaId}`;
    let serializer = this.serializers.get(cacheKey);
    if (!serializer) {
      serializer = new AvroSerializer(this.client, part === 'key' ? SerdeType.KEY : SerdeType.VALUE, {
        ...avroOptions,
        useSchemaId: schemaId,
        autoRegisterSchemas: false,
      });
      this.serializers.set(cacheKey, serializer);
    }
    return serializer.serialize(topic, record);
  }

  async deserialize(topic: string, part: 'key' | 'value', payload: Buffer): Promise<unknown> {
    return (part === 'key' ? this.keyDeserializer : this.valueDeserializer).deserialize(topic, payload);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
