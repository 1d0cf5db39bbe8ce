import { testStackEndpoints, uniqueName } from './testing';
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
});
