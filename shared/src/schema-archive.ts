import type { IHeaders, Kafka, Message } from 'kafkajs';
import { readCommittedTopic } from './committed-topic-reader';
import type { RegistryConfig } from './config-common';
import { RetryableError } from './errors';
import type { Logger } from './logger';
import { AvroCodec, createRegistryClient } from './schema-registry';

/**
 * The fleet's own copy of every schema its readers have written with, and the record headers that name a
 * record's schemas by content.
 *
 * Why: the Confluent wire format names a record's schema only by the registry's id. A registry that loses
 * its storage and restarts empty hands its ids out again from 1, so an id in a record written before the
 * loss may name another schema, or none, in the registry that serves now. The reader therefore also puts
 * the fingerprint of the key's and the value's schema in each record's headers, and writes each schema
 * into the compacted archive topic (keyed by fingerprint) in the same Kafka transaction as the first
 * records that use it, so a read_committed consumer that sees a record can always find its schema. Sinks
 * decode with the registry's schema for the id when its fingerprint is the header's, and otherwise with the
 * archive's: no record is decoded with a schema it was not written with.
 */

/** Record headers holding the MD5 fingerprint (of the Avro Parsing Canonical Form) of the key's and value's schema. */
export const schemaHeaders = { key: 'cdc.schema.key', value: 'cdc.schema.value' } as const;

/** The schema archive topic of a fleet: one partition, compacted, keyed by the schema's fingerprint in hex. */
export function schemaArchiveTopicOf(prefix: string): string {
  return `${prefix}.internal.schemas`;
}

/** The archive topic's settings: one ordered, compacted log that keeps every schema for good. */
export function schemaArchiveTopicConfig(prefix: string, replicationFactor: number) {
  return {
    topic: schemaArchiveTopicOf(prefix),
    numPartitions: 1,
    replicationFactor,
    configEntries: [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'retention.ms', value: '-1' },
    ],
  };
}

/** The archive record of one schema: key = fingerprint (hex), value = the subject and the schema text as registered. */
export function schemaArchiveMessage(fingerprint: Buffer, subject: string, schemaText: string): Message {
  return { key: fingerprint.toString('hex'), value: JSON.stringify({ subject, schema: schemaText }) };
}

/** The schema fingerprint a record carries in header `name`, when it carries one. */
export function schemaFingerprintOf(headers: IHeaders | undefined, name: string): Buffer | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  return Buffer.isBuffer(value) ? value : Array.isArray(value) ? undefined : Buffer.from(value, 'hex');
}

/** The schema headers of a record, to carry along where its bytes go (dead letters, replays). */
export function schemaHeadersOf(headers: IHeaders | undefined): IHeaders {
  const out: IHeaders = {};
  for (const name of Object.values(schemaHeaders)) if (headers?.[name] !== undefined) out[name] = headers[name];
  return out;
}

/** The codec a consumer of the fleet's change topics decodes with: the registry, backed by the fleet's schema archive. */
export function createChangeCodec(registry: RegistryConfig, kafka: Kafka, prefix: string, logger: Logger): AvroCodec {
  return new AvroCodec(createRegistryClient(registry), new SchemaArchive(kafka, schemaArchiveTopicOf(prefix), logger));
}

/** Where a decoder finds a schema by fingerprint when the registry's schema for the id is not it. */
export interface SchemaLookup {
  /** The schema text archived under `fingerprint` (hex), or undefined when the archive does not hold it (yet). */
  find(fingerprint: string): Promise<string | undefined>;
}

/**
 * The archive topic read into memory. A fingerprint not held is looked for by reading the topic again (one
 * read at a time; concurrent finds share it); a record's schema is committed no later than the record, so
 * a read that begins after the record was consumed finds it, unless the transaction's marker on the archive
 * partition is still being written, which the caller's retry covers.
 */
export class SchemaArchive implements SchemaLookup {
  private readonly schemas = new Map<string, string>();
  private reading: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly logger: Logger,
    private readonly timeoutMs = 30_000,
  ) {}

  async find(fingerprint: string): Promise<string | undefined> {
    if (!this.schemas.has(fingerprint)) await this.read();
    return this.schemas.get(fingerprint);
  }

  private read(): Promise<void> {
    this.reading ??= this.readOnce().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    const before = this.schemas.size;
    await readCommittedTopic(this.kafka, this.topic, {
      purpose: 'schema-archive',
      logger: this.logger,
      timeoutMs: this.timeoutMs,
      onMessage: (message) => {
        if (!message.key || !message.value) return;
        const schema = archivedSchemaText(message.value);
        if (schema === undefined) this.logger.warn({ topic: this.topic, offset: message.offset }, 'not a schema archive record; skipped');
        else this.schemas.set(message.key.toString(), schema);
      },
      // A reader is committing a schema right now; its records are not visible before it either.
      blocked: (partition, stable) =>
        new RetryableError('schema_archive_busy', `${this.topic}[${partition}] has a transaction open at offset ${stable}`),
    });
    this.logger.info({ topic: this.topic, schemas: this.schemas.size, new: this.schemas.size - before }, 'read the schema archive');
  }
}

function archivedSchemaText(value: Buffer): string | undefined {
  try {
    const { schema } = JSON.parse(value.toString()) as { schema?: unknown };
    return typeof schema === 'string' ? schema : undefined;
  } catch {
    return undefined;
  }
}
