import { waitFor } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReaderFixture, envelopes } from '../test/reader-test-fixture';

/** The ids the registry holds under `subject` now. */
async function idsUnder(registryUrl: string, subject: string): Promise<number[]> {
  const versions = await fetch(`${registryUrl}/subjects/${subject}/versions`);
  if (versions.status === 404) return [];
  const ids: number[] = [];
  for (const version of (await versions.json()) as number[]) {
    const response = await fetch(`${registryUrl}/subjects/${subject}/versions/${version}`);
    ids.push(((await response.json()) as { id: number }).id);
  }
  return ids;
}

/** The schema id in the Confluent header of each change event (not tombstone) of `topic`, read_committed. */
async function valueSchemaIds(fixture: ReaderFixture, topic: string, count: number): Promise<number[]> {
  const consumer = fixture.kafka.consumer({ groupId: `${topic}.ids.${Date.now()}` });
  await consumer.connect();
  const ids: number[] = [];
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      if (message.value) ids.push(message.value.readUInt32BE(1));
      return Promise.resolve();
    },
  });
  await waitFor(`${count} change events on ${topic}`, () => Promise.resolve(ids.length >= count), 60_000);
  await consumer.disconnect();
  return ids;
}

async function forget(registryUrl: string, subject: string): Promise<void> {
  for (const query of ['', '?permanent=true']) {
    const response = await fetch(`${registryUrl}/subjects/${subject}${query}`, { method: 'DELETE' });
    if (!response.ok) throw new Error(`DELETE ${subject}${query}: ${response.status} ${await response.text()}`);
  }
}

describe('wal-reader and a registry that forgets', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('registry_forgets', `create table items (id int4 primary key, label text)`);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('after the registry loses the subjects, no change is committed with an id the registry does not hold for them', async () => {
    const { registryUrl } = fixture.stack;
    const subject = `${fixture.topic('items')}-value`;
    const confirmWithinMs = 500;
    const reader = fixture.reader({ CDC__REGISTRY__CONFIRM_WITHIN_MS: String(confirmWithinMs) });
    reader.process.start();
    await reader.process.waitReady(reader.port);
    await fixture.db.query(`insert into items values (1, 'before')`);
    await fixture.read(['items'], (records) => records.length >= 1);
    const [firstId] = await idsUnder(registryUrl, subject);

    // What an in-memory registry's restart does to a writer's cached ids: the subjects are gone.
    await forget(registryUrl, `${fixture.topic('items')}-key`);
    await forget(registryUrl, subject);
    // A registry restarting empty is down for longer than the reader trusts a confirmation.
    await sleep(confirmWithinMs + 100);
    await fixture.db.query(`insert into items values (2, 'after')`);
    const records = await fixture.read(['items'], (seen) => envelopes(seen).length >= 2);

    expect(
      envelopes(records)
        .map((event) => event.after)
        .sort((a, b) => Number(a!.id) - Number(b!.id)),
    ).toEqual([
      { id: 1, label: 'before' },
      { id: 2, label: 'after' },
    ]);
    const ids = await valueSchemaIds(fixture, fixture.topic('items'), 2);
    const heldNow = await idsUnder(registryUrl, subject);
    // Row 2 was committed only after the reader had registered its schema again: every id on the topic is
    // one the registry holds for the subject (registries give identical content its old id back).
    expect(ids).toHaveLength(2);
    expect(heldNow.length).toBeGreaterThan(0);
    expect(ids.filter((id) => !heldNow.includes(id))).toEqual([]);
    expect(firstId).toBeDefined();
    await waitFor('the log to name the cause', () =>
      Promise.resolve(readFileSync(reader.process.logFile, 'utf8').includes('the schema registry no longer maps the ids')),
    );
  });
});
