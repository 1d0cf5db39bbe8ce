import type { SchemaRegistryClient } from '@confluentinc/schemaregistry/dist/schemaregistry-client';
import { AvroCodec } from './schema-registry';

/** A registry that answers every registration with the same id, as one restarted empty may. */
function registryAnswering(id: number): SchemaRegistryClient {
  return { register: () => Promise.resolve(id) } as unknown as SchemaRegistryClient;
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
