import type { SchemaRegistryClient } from '@confluentinc/schemaregistry/dist/schemaregistry-client';
import { RetryableError } from './errors';
import { AvroCodec, schemaFingerprint } from './schema-registry';

/** A registry that answers every registration with the same id, as one restarted empty may. */
function registryAnswering(id: number): SchemaRegistryClient {
  return { register: () => Promise.resolve(id), clearCaches: () => undefined } as unknown as SchemaRegistryClient;
}

const itemV1 = { type: 'record', name: 'Item', fields: [{ name: 'qty', type: 'int' }] };
const orderV1 = { type: 'record', name: 'Order', fields: [{ name: 'status', type: 'string' }] };

describe('AvroCodec', () => {
  it('encodes with the schema the registry last gave an id to, when a registry restarted empty reissues the id', async () => {
    const codec = new AvroCodec(registryAnswering(4));
    expect(await codec.register('items-value', itemV1)).toBe(4);
    codec.encode(4, { qty: 1 });

    expect(await codec.register('orders-value', orderV1)).toBe(4);
    const encoded = codec.encode(4, { status: 'placed' });

    expect(encoded.readUInt32BE(1)).toBe(4);
    expect(await codec.deserialize('orders', 'value', Buffer.from(encoded))).toEqual({ status: 'placed' });
  });
});

/** A registry serving `schemas` by id (what one restarted empty serves after the writers registered again). */
class RegistryServing {
  lookups = 0;
  private cached = new Map<number, object>();

  constructor(public schemas: Map<number, object>) {}

  readonly client = {
    register: () => Promise.resolve(1),
    // Like the library's client: an id's answer is cached until `clearCaches`.
    getBySubjectAndId: (_subject: string, id: number) => {
      this.lookups++;
      const schema = this.cached.get(id) ?? this.schemas.get(id);
      if (!schema) return Promise.reject(Object.assign(new Error(`Schema ${id} not found`), { status: 404 }));
      this.cached.set(id, schema);
      return Promise.resolve({ schema: JSON.stringify(schema) });
    },
    clearCaches: () => this.cached.clear(),
  } as unknown as SchemaRegistryClient;
}

/** A schema archive holding `schemas`, counting its lookups. */
function archiveOf(...schemas: object[]): { find: (fingerprint: string) => Promise<string | undefined>; finds: string[] } {
  const byFingerprint = new Map(schemas.map((schema) => [schemaFingerprint(schema).toString('hex'), JSON.stringify(schema)]));
  const finds: string[] = [];
  return {
    finds,
    find: (fingerprint) => {
      finds.push(fingerprint);
      return Promise.resolve(byFingerprint.get(fingerprint));
    },
  };
}

/** A record written by a codec whose registry gave `schema` the id `id`. */
async function writtenWith(id: number, schema: object, record: unknown): Promise<Buffer> {
  const writer = new AvroCodec(registryAnswering(id));
  await writer.register('any', schema);
  return Buffer.from(writer.encode(id, record));
}

describe('AvroCodec with schema fingerprints', () => {
  it('decodes with the registry schema of the id when its fingerprint is the record’s, without the archive', async () => {
    const registry = new RegistryServing(new Map([[3, itemV1]]));
    const archive = archiveOf(itemV1);
    const codec = new AvroCodec(registry.client, archive);
    const payload = await writtenWith(3, itemV1, { qty: 7 });
    expect(await codec.deserialize('items', 'value', payload, schemaFingerprint(itemV1))).toEqual({ qty: 7 });
    expect(await codec.deserialize('items', 'value', payload, schemaFingerprint(itemV1))).toEqual({ qty: 7 });
    expect(registry.lookups).toBe(1);
    expect(archive.finds).toEqual([]);
  });

  it('decodes a record written before the registry restarted empty with the archived schema, not the id’s new one', async () => {
    // Before the restart id 1 was Item; the emptied registry gave id 1 to Order.
    const registry = new RegistryServing(new Map([[1, orderV1]]));
    const archive = archiveOf(itemV1, orderV1);
    const codec = new AvroCodec(registry.client, archive);
    const old = await writtenWith(1, itemV1, { qty: 5 });
    const fresh = await writtenWith(1, orderV1, { status: 'placed' });
    expect(await codec.deserialize('items', 'value', old, schemaFingerprint(itemV1))).toEqual({ qty: 5 });
    expect(await codec.deserialize('orders', 'value', fresh, schemaFingerprint(orderV1))).toEqual({ status: 'placed' });
    expect(archive.finds).toEqual([schemaFingerprint(itemV1).toString('hex')]);
  });

  it('asks the registry again past its cache when the cached schema of the id is not the record’s', async () => {
    const registry = new RegistryServing(new Map([[1, itemV1]]));
    const codec = new AvroCodec(registry.client, archiveOf());
    expect(await codec.deserialize('items', 'value', await writtenWith(1, itemV1, { qty: 1 }), schemaFingerprint(itemV1))).toEqual({
      qty: 1,
    });
    // The registry restarted empty and id 1 is now Order's.
    registry.schemas = new Map([[1, orderV1]]);
    const fresh = await writtenWith(1, orderV1, { status: 'sent' });
    expect(await codec.deserialize('orders', 'value', fresh, schemaFingerprint(orderV1))).toEqual({ status: 'sent' });
  });

  it('waits (a retryable error) while neither the registry nor the archive holds the record’s schema', async () => {
    const registry = new RegistryServing(new Map([[1, orderV1]]));
    const archive = archiveOf();
    const codec = new AvroCodec(registry.client, archive);
    const old = await writtenWith(1, itemV1, { qty: 5 });
    const failure = codec.deserialize('items', 'value', old, schemaFingerprint(itemV1));
    await expect(failure).rejects.toBeInstanceOf(RetryableError);
    await expect(failure).rejects.toThrow(/nor the schema archive holds/);
    // Archived later (the transaction's marker reached the archive): the next attempt decodes.
    const later = new AvroCodec(registry.client, archiveOf(itemV1));
    expect(await later.deserialize('items', 'value', old, schemaFingerprint(itemV1))).toEqual({ qty: 5 });
  });

  it('decodes from the archive while the registry is down', async () => {
    const down = {
      getBySubjectAndId: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8081')),
      clearCaches: () => undefined,
    } as unknown as SchemaRegistryClient;
    const codec = new AvroCodec(down, archiveOf(itemV1));
    expect(await codec.deserialize('items', 'value', await writtenWith(9, itemV1, { qty: 2 }), schemaFingerprint(itemV1))).toEqual({
      qty: 2,
    });
  });
});
