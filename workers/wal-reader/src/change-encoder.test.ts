import { FleetMetrics, RetryableError, createLogger, schemaFingerprint, schemaHeaders, type AvroCodec } from '@inventory-cdc/shared';
import { ChangeEncoder } from './change-encoder';
import { ReaderMetrics } from './reader-metrics';

/** The registry as the encoder sees it: ids handed out on registration, and confirmations counted. */
class RegistryDouble {
  readonly confirmed: string[][] = [];
  forgotten = false;
  /** While set, confirmations are held unanswered until `answer()`, as a slow registry's are. */
  slow = false;
  private readonly held: Array<() => void> = [];
  private nextId = 1;

  readonly codec = {
    setCompatibility: () => Promise.resolve(),
    register: () => Promise.resolve(this.nextId++),
    confirm: (entries: Array<{ subject: string }>) => {
      this.confirmed.push(entries.map((entry) => entry.subject));
      if (!this.slow) return Promise.resolve(!this.forgotten);
      return new Promise<boolean>((resolve) => this.held.push(() => resolve(!this.forgotten)));
    },
  } as unknown as AvroCodec;

  /** Answers the held confirmations; resolves once their answers have been taken in. */
  async answer(): Promise<void> {
    for (const release of this.held.splice(0)) release();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function encoderWith(registry: RegistryDouble, confirmWithinMs: number): Promise<ChangeEncoder> {
  const encoder = new ChangeEncoder(
    registry.codec,
    new ReaderMetrics(new FleetMetrics('test'), '0'),
    createLogger({ service: 'test', level: 'silent' }),
    'BACKWARD',
    {},
    1_000_000,
    confirmWithinMs,
    'fleet.internal.schemas',
  );
  await encoder.registerSubject('t-key', { type: 'string' });
  await encoder.registerSubject('t-value', { type: 'string' });
  return encoder;
}

describe('ChangeEncoder.confirmWritten', () => {
  it('asks the registry again only for subjects it last answered for longer ago than the window', async () => {
    const registry = new RegistryDouble();
    const encoder = await encoderWith(registry, 1_000);
    const registeredAt = Date.now();

    encoder.markWritten('t');
    await encoder.confirmWritten(registeredAt + 400);
    expect(registry.confirmed).toEqual([]);

    encoder.markWritten('t');
    await encoder.confirmWritten(registeredAt + 1_500);
    expect(registry.confirmed).toEqual([['t-key', 't-value']]);

    // The confirmation opened a new window.
    encoder.markWritten('t');
    await encoder.confirmWritten(registeredAt + 1_900);
    expect(registry.confirmed).toHaveLength(1);
  });

  it('asks at every commit with a window of 0, and only for the subjects written since the last commit', async () => {
    const registry = new RegistryDouble();
    const encoder = await encoderWith(registry, 0);
    await encoder.confirmWritten(Date.now() + 1);
    expect(registry.confirmed).toEqual([]);
    encoder.markWritten('t');
    await encoder.confirmWritten(Date.now() + 1);
    encoder.markWritten('t');
    await encoder.confirmWritten(Date.now() + 2);
    expect(registry.confirmed).toEqual([
      ['t-key', 't-value'],
      ['t-key', 't-value'],
    ]);
  });

  it("confirms ahead in the background past half the window, so a steady writer's commits do not wait for the registry", async () => {
    const registry = new RegistryDouble();
    const encoder = await encoderWith(registry, 1_000);
    const registeredAt = Date.now();
    registry.slow = true;

    // Past half the window: the commit goes on at once while the registry is asked in the background.
    encoder.markWritten('t');
    await encoder.confirmWritten(registeredAt + 600);
    expect(registry.confirmed).toEqual([['t-key', 't-value']]);
    // One background question at a time.
    encoder.markWritten('t');
    await encoder.confirmWritten(registeredAt + 700);
    expect(registry.confirmed).toHaveLength(1);

    // Its answer dates from its start, 600: at 1,500 the window still holds, no commit waits.
    await registry.answer();
    encoder.markWritten('t');
    await encoder.confirmWritten(registeredAt + 1_500);
    expect(registry.confirmed).toHaveLength(2);
    await registry.answer();

    // Without an answer younger than the window, the commit waits for the registry.
    let settled = false;
    encoder.markWritten('t');
    const waiting = encoder.confirmWritten(registeredAt + 3_000).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    await registry.answer();
    await waiting;
    expect(registry.confirmed).toHaveLength(3);
  });

  it('fails the next commit when a confirmation ahead finds that the registry forgot the ids', async () => {
    const registry = new RegistryDouble();
    const encoder = await encoderWith(registry, 1_000);
    registry.forgotten = true;
    encoder.markWritten('t');
    await encoder.confirmWritten(Date.now() + 600);
    await new Promise((resolve) => setImmediate(resolve));
    await expect(encoder.confirmWritten(Date.now() + 601)).rejects.toThrow(
      /no longer maps the ids this reader registered for t-key, t-value/,
    );
  });

  it('fails the commit, naming the subjects, when the registry no longer maps the ids', async () => {
    const registry = new RegistryDouble();
    const encoder = await encoderWith(registry, 1_000);
    registry.forgotten = true;
    encoder.markWritten('t');
    const failure = encoder.confirmWritten(Date.now() + 5_000);
    await expect(failure).rejects.toBeInstanceOf(RetryableError);
    await expect(failure).rejects.toThrow(/t-key, t-value/);
  });
});

describe('ChangeEncoder schema archive', () => {
  it('names each registered schema by fingerprint in an archive record and in the headers of its records', async () => {
    const encoder = await encoderWith(new RegistryDouble(), 1_000);
    const fingerprint = schemaFingerprint({ type: 'string' });
    expect(encoder.headersOf('t')).toEqual({ [schemaHeaders.key]: fingerprint, [schemaHeaders.value]: fingerprint });
    const records = encoder.archiveRecords();
    // Key and value share one schema here: one archive record.
    expect(records).toEqual([
      {
        topic: 'fleet.internal.schemas',
        message: {
          key: fingerprint.toString('hex'),
          value: JSON.stringify({ subject: 't-key', schema: JSON.stringify({ type: 'string' }) }),
        },
      },
    ]);
  });

  it('offers the archive records until a commit carrying them succeeds, then never again', async () => {
    const encoder = await encoderWith(new RegistryDouble(), 1_000);
    const first = encoder.archiveRecords();
    expect(encoder.archiveRecords()).toEqual(first);
    await encoder.registerSubject('u-value', { type: 'int' });
    encoder.archived(first);
    expect(encoder.archiveRecords().map((record) => record.message.key)).toEqual([schemaFingerprint({ type: 'int' }).toString('hex')]);
  });
});
