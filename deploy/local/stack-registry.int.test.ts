import { AvroCodec, createRegistryClient } from '@inventory-cdc/shared';
import { testStackEndpoints, uniqueName } from '@inventory-cdc/shared/testing';
import { restartStackService } from './stack';

const schemaOf = (name: string): object => ({
  type: 'record',
  name,
  namespace: 'inventory.test',
  fields: [{ name: 'sku', type: 'string' }],
});

/**
 * Restarts the stack's registry: other tests using it meanwhile wait for it (sinks hold their partitions,
 * see ChangeDecoder), which is what it is for.
 */
describe('the local stack’s schema registry', () => {
  it('keeps its schemas across a restart: the same id for the same subject and schema, new ids never reused', async () => {
    const url = testStackEndpoints().registryUrl;
    const subject = `${uniqueName('persist')}-value`;
    const before = new AvroCodec(createRegistryClient({ url, compatibility: 'BACKWARD' }));
    const id = await before.register(subject, schemaOf('Kept'));
    await before.close();

    await restartStackService('registry');

    const after = new AvroCodec(createRegistryClient({ url, compatibility: 'BACKWARD' }));
    try {
      const found = await after.client.getBySubjectAndId('', id);
      expect(JSON.parse(found.schema)).toMatchObject({ name: 'Kept' });
      expect(await after.register(subject, schemaOf('Kept'))).toBe(id);
      expect(await after.register(`${uniqueName('persist')}-value`, schemaOf('Fresh'))).toBeGreaterThan(id);
    } finally {
      await after.close();
    }
  }, 180_000);
});
