import {
  HaltError,
  RetryableError,
  formatLsn,
  schemaArchiveMessage,
  schemaFingerprint,
  schemaHeaders,
  type AvroCodec,
  type Logger,
  type RegistryConfig,
} from '@inventory-cdc/shared';
import type { IHeaders } from 'kafkajs';
import type { ChangeRecord } from './change-builder';
import type { OutgoingRecord } from './change-committer';
import type { ReaderMetrics } from './reader-metrics';
import type { CompiledTable } from './table-schema';

interface SchemaIds {
  key: number;
  value: number;
  /** The schema headers of the table's records (one object shared by all of them). */
  headers: IHeaders;
}

interface RegisteredSubject {
  subject: string;
  schema: object;
  id: number;
  fingerprint: Buffer;
}

/**
 * Change records → Kafka records (Avro, Confluent wire format). Schemas are registered when a table's
 * shape is first seen (`prepare`, before its first change is encoded), so encoding itself is synchronous:
 * no promise and no registry lookup per record.
 */
export class ChangeEncoder {
  private readonly ids = new Map<string, SchemaIds>();
  /** Every subject this session registered, with the schema and the id the registry gave for it. */
  private readonly registered = new Map<string, RegisteredSubject>();
  /**
   * Schema archive records this session has not yet seen committed, by fingerprint: each goes into every
   * Kafka transaction until one commits, so no committed record uses a schema the archive lacks.
   */
  private readonly unarchived = new Map<string, OutgoingRecord>();
  /** When the registry last gave or confirmed each subject's id (the request's start, ms since the epoch). */
  private readonly confirmedAtMs = new Map<string, number>();
  /** A confirmation runs in the background (`confirmWritten`: confirming ahead). */
  private confirmingAhead = false;
  /** What a background confirmation found: the registry no longer maps an id; the next commit fails with it. */
  private registryForgot: RetryableError | undefined;
  /** Topics whose key and value ids were written since the last `confirmWritten`. */
  private written = new Set<string>();
  /** Change events per `table|op` since the last `countEvents`, counted here and added to the metric in bulk. */
  private readonly eventCounts = new Map<string, number>();

  constructor(
    private readonly codec: AvroCodec,
    private readonly metrics: ReaderMetrics,
    private readonly logger: Logger,
    private readonly compatibility: RegistryConfig['compatibility'],
    /** Rules that replace `compatibility` for single subjects (an operator's deliberate exception). */
    private readonly subjectCompatibility: Record<string, RegistryConfig['compatibility']>,
    /** Largest record (key + value bytes) the brokers accept; a larger change halts the shard. */
    private readonly maxRecordBytes: number,
    /** How old a subject's last confirmation may be at a Kafka commit (see `confirmWritten`). */
    private readonly confirmWithinMs: number,
    /** The fleet's schema archive topic (see schema-archive.ts in shared). */
    private readonly archiveTopic: string,
  ) {}

  /**
   * Registers a table shape's key and value schemas. A refused registration (the compatibility rule)
   * halts the shard: skipping the table's events would lose them.
   */
  async prepare(table: CompiledTable, previous?: CompiledTable): Promise<void> {
    if (this.ids.has(table.fingerprint)) return;
    try {
      const [key, value] = await Promise.all([
        this.registerSubject(`${table.topic}-key`, table.keySchema),
        this.registerSubject(`${table.topic}-value`, table.valueSchema),
      ]);
      this.logger.info({ topic: table.topic, keySchemaId: key, valueSchemaId: value }, 'schema registered');
      this.ids.set(table.fingerprint, { key, value, headers: this.headersOf(table.topic) });
    } catch (error) {
      const message = String((error as Error).message ?? error);
      if (!/409|incompatible/i.test(message)) throw error;
      const name = `${table.shape.schema}.${table.shape.table}`;
      this.metrics.schemaRefused.inc({ shard: this.metrics.shard, table: name });
      // After a restart there is no previous shape in memory: compare with what the registry holds.
      const registered = previous ? undefined : await this.codec.latestSchema(`${table.topic}-value`).catch(() => undefined);
      throw new HaltError(
        'schema_refused',
        `the registry refused the new schema of ${name}: ${describeRefusal(message, table, previous, registered)}`,
        `revert the change in Postgres and replay it compatibly (add columns as nullable, do not change a column's type) — the changes already made stay in the WAL and are refused again — or accept it deliberately: set registry.subjectCompatibility {"${table.topic}-value": NONE} in this reader's config, restart it, and remove the setting once the new schema is registered; tell the topic's consumers first`,
        { cause: error },
      );
    }
  }

  /**
   * Sets the subject's compatibility rule, then registers. The rule is set first, on every start, so the
   * registry judges even the first new version after a restart by it (the registry enforces nothing on a
   * subject without a configured rule).
   */
  async registerSubject(subject: string, schema: object): Promise<number> {
    await this.codec.setCompatibility(this.subjectCompatibility[subject] ?? this.compatibility, subject);
    const askedAtMs = Date.now();
    const id = await this.codec.register(subject, schema);
    const fingerprint = schemaFingerprint(schema);
    this.registered.set(subject, { subject, schema, id, fingerprint });
    this.confirmedAtMs.set(subject, askedAtMs);
    const name = fingerprint.toString('hex');
    if (!this.unarchived.has(name))
      this.unarchived.set(name, { topic: this.archiveTopic, message: schemaArchiveMessage(fingerprint, subject, JSON.stringify(schema)) });
    return id;
  }

  /** The schema headers for records of `topic`, whose key and value subjects this session registered. */
  headersOf(topic: string): IHeaders {
    const key = this.registered.get(`${topic}-key`);
    const value = this.registered.get(`${topic}-value`);
    if (!key || !value) throw new Error(`no schemas registered for ${topic}`);
    return { [schemaHeaders.key]: key.fingerprint, [schemaHeaders.value]: value.fingerprint };
  }

  /**
   * The archive records of the schemas registered this session, until a commit that carried them succeeds
   * (`archived`). Every session archives its schemas again: the topic is compacted by fingerprint, and an
   * archive that was lost or never written (a fleet older than the archive) is filled in.
   */
  archiveRecords(): OutgoingRecord[] {
    return [...this.unarchived.values()].map((record) => ({ topic: record.topic, message: { ...record.message } }));
  }

  /** A Kafka transaction carrying these archive records committed. */
  archived(records: OutgoingRecord[]): void {
    for (const record of records) this.unarchived.delete(String(record.message.key));
  }

  /** Notes that records carrying the ids of `topic`'s subjects were written (records encoded elsewhere: boundaries). */
  markWritten(topic: string): void {
    this.written.add(topic);
  }

  /**
   * Confirms with the registry that every id written since the last call still names its subject's schema;
   * called before each Kafka commit. A registry that forgot (an in-memory one restarted empty) or changed
   * an id fails the session before the commit: the next session registers again and re-encodes, so no
   * committed record carries an id the registry does not map to its schema.
   *
   * A subject the registry gave or confirmed within `confirmWithinMs` (measured from the request's start)
   * is not asked again. Why that is as safe as asking at every commit: a registry that restarts is down for
   * longer than that (a JVM takes seconds to start), so an answer that recent came from the registry that
   * serves now; and asking at every commit cost a lookup per subject per commit, which under a flash sale
   * made the registry the busiest process on the host. An operator deleting a live writer's subjects is
   * seen at the first commit after the window.
   *
   * Confirming ahead: a subject past half its window is asked again in the background, so a steady
   * writer's commits find a fresh answer instead of waiting for the registry. Under a flash sale a lookup
   * took 144 ms at the median and up to 0.7 s, and the commit that waited for it held every transaction
   * gathered behind it. Only a subject whose answer is older than the whole window makes the commit wait,
   * so the rule above holds unchanged; a background answer that the registry forgot fails the next commit.
   */
  async confirmWritten(nowMs = Date.now()): Promise<void> {
    if (this.registryForgot) throw this.registryForgot;
    const topics = [...this.written];
    this.written = new Set();
    const subjects = topics.flatMap((topic) => [`${topic}-key`, `${topic}-value`]);
    const ageOf = (subject: string) => nowMs - (this.confirmedAtMs.get(subject) ?? -Infinity);
    const stale = subjects.filter((subject) => ageOf(subject) > this.confirmWithinMs);
    if (stale.length > 0) await this.confirm(stale, nowMs);
    const ageing = subjects.filter((subject) => ageOf(subject) > this.confirmWithinMs / 2);
    if (ageing.length > 0 && !this.confirmingAhead) {
      this.confirmingAhead = true;
      this.confirm(ageing, nowMs)
        .catch((error: unknown) => {
          if (error instanceof RetryableError) this.registryForgot = error;
          // Unreachable or slow: the answer ages until a commit needs it and waits for the registry itself.
          else this.logger.debug({ err: error }, 'confirming schema ids ahead failed');
        })
        .finally(() => (this.confirmingAhead = false));
    }
  }

  /** Asks the registry whether `subjects` still map to the ids it gave; a fresh answer dates from `askedAtMs`. */
  private async confirm(subjects: string[], askedAtMs: number): Promise<void> {
    const entries = subjects.flatMap((subject) => this.registered.get(subject) ?? []);
    if (entries.length === 0) return;
    if (await this.codec.confirm(entries)) {
      for (const { subject } of entries) {
        if ((this.confirmedAtMs.get(subject) ?? -Infinity) < askedAtMs) this.confirmedAtMs.set(subject, askedAtMs);
      }
      return;
    }
    throw new RetryableError(
      'registry_forgot',
      `the schema registry no longer maps the ids this reader registered for ${subjects.join(', ')} (restarted empty, or subjects deleted): registering again in a new session`,
    );
  }

  encode(records: ChangeRecord[]): OutgoingRecord[] {
    const out: OutgoingRecord[] = new Array<OutgoingRecord>(records.length);
    for (let index = 0; index < records.length; index++) {
      const record = records[index]!;
      const ids = this.ids.get(record.table.fingerprint);
      if (!ids) throw new Error(`no schema registered for ${record.table.topic} (${record.table.fingerprint})`);
      const key = record.key ? this.codec.encode(ids.key, record.key) : null;
      const value = record.value ? this.codec.encode(ids.value, record.value) : null;
      const bytes = (key?.length ?? 0) + (value?.length ?? 0);
      if (bytes > this.maxRecordBytes) throw tooLarge(record, bytes, this.maxRecordBytes);
      out[index] = { topic: record.table.topic, message: { key, value, headers: ids.headers } };
      this.written.add(record.table.topic);
      if (record.value) {
        const name = `${record.table.shape.schema}.${record.table.shape.table}|${record.value.op}`;
        this.eventCounts.set(name, (this.eventCounts.get(name) ?? 0) + 1);
      }
    }
    return out;
  }

  /** Adds the events encoded since the last call to the events metric (once per batch, not per event). */
  countEvents(): void {
    for (const [name, count] of this.eventCounts) {
      const [table, op] = name.split('|') as [string, string];
      this.metrics.events.inc({ shard: this.metrics.shard, table, op }, count);
    }
    this.eventCounts.clear();
  }
}

/**
 * A change the brokers would refuse on every attempt: halt with what to change rather than retry forever
 * while the slot holds the WAL.
 */
function tooLarge(record: ChangeRecord, bytes: number, limit: number): HaltError {
  const name = `${record.table.shape.schema}.${record.table.shape.table}`;
  const source = record.value?.source;
  const at = source ? ` (commit LSN ${formatLsn(source.lsn)}, txId ${source.txId})` : '';
  return new HaltError(
    'record_too_large',
    `a change of ${name}${at} encodes to ${bytes} bytes, above batch.maxRecordBytes (${limit})`,
    `raise max.message.bytes of topic ${record.table.topic} (and the brokers' message.max.bytes) above ${bytes}, then batch.maxRecordBytes to match, or keep such values out of ${name}`,
  );
}

/**
 * Names the columns whose Avro type changed, against the previous shape in memory or (after a restart)
 * the schema the registry holds, with the registry's words.
 */
function describeRefusal(
  message: string,
  table: CompiledTable,
  previous: CompiledTable | undefined,
  registered: object | undefined,
): string {
  const before = previous
    ? new Map(previous.shape.columns.map((column, index) => [previous.fieldNames[index]!, JSON.stringify(previous.codecs[index]?.avro)]))
    : rowFieldTypes(registered);
  const changed = table.shape.columns.filter((column, index) => {
    const field = table.fieldNames[index]!;
    return before.has(field) && before.get(field) !== JSON.stringify(table.codecs[index]?.avro);
  });
  if (changed.length === 0) return message;
  const describe = (column: (typeof changed)[number]): string => {
    const index = table.shape.columns.indexOf(column);
    return `${column.name} is now ${JSON.stringify(table.codecs[index]?.avro)}, was ${before.get(table.fieldNames[index]!)}`;
  };
  return `column ${changed.map((column) => column.name).join(', ')} changed type (${changed.map(describe).join('; ')}; ${message})`;
}

/** Field name → JSON of its (non-null) type, of the row record (`before`'s `Value`) in a registered envelope schema. */
function rowFieldTypes(envelope: object | undefined): Map<string, string> {
  const fields = (envelope as { fields?: Array<{ name: string; type: unknown }> } | undefined)?.fields ?? [];
  const before = fields.find((field) => field.name === 'before')?.type;
  const row = Array.isArray(before) ? (before[1] as { fields?: Array<{ name: string; type: unknown }> }) : undefined;
  return new Map((row?.fields ?? []).map((field) => [field.name, JSON.stringify(Array.isArray(field.type) ? field.type[1] : field.type)]));
}
