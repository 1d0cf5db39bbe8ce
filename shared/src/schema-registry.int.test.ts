import { testStackEndpoints, uniqueName } from '@inventory-cdc/shared/testing';
import { AvroCodec, createRegistryClient } from './schema-registry';

function stockSchema(extraFields: object[] = []): object {
  return {
    type: 'record',
    name: 'Stock',
    namespace: 'inventory.test',
    fields: [
      { name: 'sku', type: 'string' },
      { name: 'quantity', type: 'long' },
      { name: 'note', type: ['null', 'string'], default: null },
      ...extraFields,
    ],
  };
}

describe('Avro through the registry’s Confluent-compatible API', () => {
  let codec: AvroCodec;

  beforeAll(() => {
    codec = new AvroCodec(createRegistryClient({ url: testStackEndpoints().registryUrl, compatibility: 'BACKWARD' }));
  });

  afterAll(async () => {
    await codec.close();
  });

  it('an explicitly registered record serializes in the Confluent wire format and back to the same value', async () => {
    const topic = uniqueName('avro_roundtrip');
    const schemaId = await codec.register(`${topic}-value`, stockSchema());
    const record = { sku: 'SKU-1', quantity: 9_223_372_036_854_775_807n, note: null };

    const payload = await codec.serialize(topic, 'value', schemaId, record);

    expect(payload.readUInt8(0)).toBe(0);
    expect(payload.readUInt32BE(1)).toBe(schemaId);
    expect(await codec.deserialize(topic, 'value', payload)).toEqual(record);
  });

  it('refuses an incompatible schema once compatibility is configured, and accepts a compatible one', async () => {
    const subject = `${uniqueName('avro_compat')}-value`;
    const first = await codec.register(subject, stockSchema());
    await codec.setCompatibility('BACKWARD', subject);

    await expect(codec.register(subject, stockSchema([{ name: 'warehouse', type: 'string' }]))).rejects.toThrow(/409|ncompatible/);
    const second = await codec.register(subject, stockSchema([{ name: 'warehouse', type: 'string', default: 'main' }]));

    expect(second).not.toBe(first);
    expect(await codec.register(subject, stockSchema())).toBe(first);
  });

  it('encodes synchronously with the ids this writer registered, byte for byte as serialize does, and refuses any other id', async () => {
    const topic = uniqueName('avro_encode');
    const schemaId = await codec.register(`${topic}-value`, stockSchema());
    const record = { sku: 'SKU-2', quantity: 5n, note: 'n' };

    expect(codec.encode(schemaId, record)).toEqual(await codec.serialize(topic, 'value', schemaId, record));
    // Records share a slab; one larger than the slab gets a slab of its own, and earlier views stay intact.
    const encoded = Array.from({ length: 3_000 }, (_, index) => codec.encode(schemaId, { ...record, quantity: BigInt(index) }));
    const huge = { ...record, note: 'x'.repeat(600_000) };
    const hugeEncoded = codec.encode(schemaId, huge);
    expect(await codec.deserialize(topic, 'value', hugeEncoded)).toEqual(huge);
    expect(await Promise.all(encoded.map((payload) => codec.deserialize(topic, 'value', payload)))).toEqual(
      encoded.map((_, index) => ({ ...record, quantity: BigInt(index) })),
    );
    const stranger = new AvroCodec(createRegistryClient({ url: testStackEndpoints().registryUrl, compatibility: 'BACKWARD' }));
    expect(() => stranger.encode(schemaId, record)).toThrow(`schema id ${schemaId} was not registered by this writer`);
    await stranger.close();
  });

  it('readers setting the same subject’s compatibility at the same moment all succeed (the registry may say the rule exists)', async () => {
    const subject = `${uniqueName('avro_concurrent_rule')}-value`;
    const writers = Array.from(
      { length: 6 },
      () => new AvroCodec(createRegistryClient({ url: testStackEndpoints().registryUrl, compatibility: 'BACKWARD' })),
    );

    const results = await Promise.allSettled(writers.map((writer) => writer.setCompatibility('BACKWARD', subject)));

    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    await Promise.all(writers.map((writer) => writer.close()));
  });
});
