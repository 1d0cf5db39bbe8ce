import { setTimeout as sleep } from 'node:timers/promises';
import { FleetMetrics, SinkMetrics, createLogger, type DeadLetter } from '@inventory-cdc/shared';
import { PartitionWindows, type WindowEntry, type WindowPorts } from './partition-windows';
import type { DeliveryOutcome } from './posting-delivery';
import type { Posting } from './posting-builder';
import type { DeltaOutcome } from './stock-delta';
import { WindowAssembler, type WindowRange } from './window-assembler';
import { decodeMarker, encodeMarker } from './window-marker';

const topic = 'p.inventory.stock';

/** Ports that record every call in order; `deliver` answers from `answers` (default booked). */
class RecordingPorts implements WindowPorts {
  readonly calls: string[] = [];
  readonly postings: Posting[] = [];
  readonly letters: DeadLetter[] = [];
  committed: { offset: bigint; metadata: string | null } | undefined;

  constructor(private readonly answer: (posting: Posting) => Promise<DeliveryOutcome> = () => Promise.resolve({ kind: 'booked' })) {}

  commit(offset: bigint, metadata: string | null, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    this.calls.push(`commit ${offset}${metadata ? ' marked' : ''}`);
    this.committed = { offset, metadata };
    return Promise.resolve();
  }

  async deliver(posting: Posting): Promise<DeliveryOutcome> {
    this.calls.push(`post ${posting.postingId}`);
    this.postings.push(posting);
    return this.answer(posting);
  }

  deadLetter(letters: DeadLetter[]): Promise<void> {
    if (letters.length > 0) this.calls.push(`dlq ${letters.map((letter) => `${letter.record.offset}:${letter.reason}`).join(',')}`);
    this.letters.push(...letters);
    return Promise.resolve();
  }
}

const metrics = new SinkMetrics(new FleetMetrics('test'), 'erp-adapter');
const logger = createLogger({ service: 'test', level: 'silent' });

const created: PartitionWindows[] = [];
afterEach(() => created.splice(0).forEach((subject) => subject.close()));

function windows(
  ports: WindowPorts,
  options: { pending?: WindowRange; splitWindow?: WindowRange; now?: () => number; maxAgeMs?: number; signal?: AbortSignal } = {},
): PartitionWindows {
  const subject = new PartitionWindows(
    {
      topic,
      partition: 0,
      startOffset: 0n,
      ports,
      metrics,
      logger,
      signal: options.signal ?? new AbortController().signal,
      onFailure: () => undefined,
      now: options.now,
      ...(options.splitWindow ? { splitWindow: options.splitWindow } : {}),
    },
    new WindowAssembler<WindowEntry>({ maxEvents: 3, maxAgeMs: options.maxAgeMs ?? 60_000 }, options.pending),
  );
  created.push(subject);
  return subject;
}

function entry(offset: number, outcome: DeltaOutcome): { offset: bigint; entry: WindowEntry } {
  const record = { topic, partition: 0, offset: String(offset), rawKey: null, rawValue: Buffer.from('v') };
  return { offset: BigInt(offset), entry: { record, outcome, commitTsMicros: 1n } };
}

const change = (offset: number, sku = 'A', deltaOnHand = 1): { offset: bigint; entry: WindowEntry } =>
  entry(offset, { kind: 'delta', delta: { sku, warehouse: 'W', deltaOnHand, deltaReserved: 0 } });

describe('PartitionWindows', () => {
  it('marks, posts, then commits past a window — in that order', async () => {
    const ports = new RecordingPorts();
    await windows(ports).offer([change(0), change(1), change(2)], 3n, 3n);
    expect(ports.calls).toEqual([`commit 0 marked`, `post ${topic}:0:0-2`, 'commit 3']);
  });

  it('commits past a transaction’s commit marker once idle, so the committed offset reaches the log end', async () => {
    const ports = new RecordingPorts();
    const subject = windows(ports);
    // The fetch ended on the commit marker at offset 3.
    await subject.offer([change(0), change(1), change(2)], 4n, 4n);
    // A later fetch held only the next transaction's marker (kafkajs gives it to no one), then a stale one.
    await subject.offer([change(4), change(5), change(6)], 7n, 8n);
    await subject.passFiltered(7n, 8n);
    await subject.passFiltered(5n, 8n);
    expect(ports.calls).toEqual([
      'commit 0 marked',
      `post ${topic}:0:0-2`,
      'commit 3',
      'commit 4',
      'commit 4 marked',
      `post ${topic}:0:4-6`,
      'commit 7',
      'commit 8',
    ]);
  });

  it('never commits past records of a window still open', async () => {
    const ports = new RecordingPorts();
    const subject = windows(ports);
    await subject.offer([change(0)], 2n, 2n);
    await subject.passFiltered(2n, 3n);
    expect(ports.calls).toEqual([]);
  });

  it('after a crash between marker and acknowledgement, the replay posts the same window id', async () => {
    let clock = 0;
    const crashing = new RecordingPorts(() => Promise.reject(new Error('killed')));
    const first = windows(crashing, { now: () => clock, maxAgeMs: 1_000 });
    await first.offer([change(0), change(1)], 2n, 5n);
    clock = 1_500; // The time cut falls here: [0, 1].
    await expect(first.offer([change(2)], 3n, 5n)).rejects.toThrow('killed');
    expect(first.failed).toBe(true);
    const marker = decodeMarker(crashing.committed!.metadata, crashing.committed!.offset);
    expect(marker).toEqual({ kind: 'pending', range: { from: 0n, to: 1n }, split: false });

    // The replay gets all records at once: by size alone it would cut [0, 2].
    const ports = new RecordingPorts(() => Promise.resolve({ kind: 'duplicate' }));
    await windows(ports, { pending: marker.kind === 'pending' ? marker.range : undefined }).offer(
      [change(0), change(1), change(2), change(3)],
      4n,
      4n,
    );
    expect(ports.postings[0]?.postingId).toBe(crashing.postings[0]?.postingId);
    expect(ports.calls.slice(0, 3)).toEqual(['commit 0 marked', `post ${topic}:0:0-1`, 'commit 2']);
  });

  it('sends a refused window line by line and dead-letters only the refused line’s records', async () => {
    const ports = new RecordingPorts((posting) =>
      Promise.resolve(
        posting.lines.some((line) => line.sku === 'BAD')
          ? { kind: 'rejected', detail: '400 invalid field lines.0.warehouse' }
          : { kind: 'booked' },
      ),
    );
    await windows(ports).offer([change(0, 'BAD'), change(1, 'B'), change(2, 'BAD'), change(3), change(4), change(5)], 6n, 6n);
    expect(ports.calls).toEqual([
      'commit 0 marked',
      `post ${topic}:0:0-2`,
      'commit 0 marked',
      `post ${topic}:0:0-2/line/0`,
      `post ${topic}:0:0-2/line/1`,
      'dlq 0:rejected,2:rejected',
      'commit 3',
      'commit 3 marked',
      `post ${topic}:0:3-5`,
      'commit 6',
    ]);
    expect(decodeMarker(encodeMarker({ from: 0n, to: 2n }, true), 0n)).toEqual({
      kind: 'pending',
      range: { from: 0n, to: 2n },
      split: true,
    });
    expect(ports.postings[1]?.lines).toEqual([{ sku: 'B', warehouse: 'W', deltaOnHand: 1, deltaReserved: 0 }]);
    expect(ports.letters[0]?.detail).toMatch(/400 invalid field/);
  });

  it('replays a split window line by line, never as the whole posting the ERP refused', async () => {
    const ports = new RecordingPorts(() => Promise.resolve({ kind: 'duplicate' }));
    const subject = windows(ports, { pending: { from: 0n, to: 1n }, splitWindow: { from: 0n, to: 1n } });
    await subject.offer([change(0, 'A'), change(1, 'B')], 2n, 2n);
    expect(ports.calls).toEqual(['commit 0 marked', `post ${topic}:0:0-1/line/0`, `post ${topic}:0:0-1/line/1`, 'commit 2']);
  });

  it('dead-letters every record of a rejected one-line window, then moves on', async () => {
    const ports = new RecordingPorts((posting) =>
      Promise.resolve(
        posting.lines.some((line) => line.sku === 'BAD') ? { kind: 'rejected', detail: '400 sku rejected' } : { kind: 'booked' },
      ),
    );
    await windows(ports).offer([change(0, 'BAD'), change(1, 'BAD'), change(2, 'BAD'), change(3)], 4n, 4n);
    expect(ports.calls.slice(0, 4)).toEqual(['commit 0 marked', `post ${topic}:0:0-2`, 'dlq 0:rejected,1:rejected,2:rejected', 'commit 3']);
  });

  it('dead-letters poison records without posting when nothing else is left, and skips tombstones', async () => {
    const ports = new RecordingPorts();
    const poison = entry(1, { kind: 'poison', reason: 'no-before-image', detail: 'set REPLICA IDENTITY FULL' });
    const tombstones = [3, 4, 5].map((offset) => entry(offset, { kind: 'none' }));
    await windows(ports).offer([change(0, 'A', 1), poison, change(2, 'A', -1), ...tombstones], 6n, 6n);
    expect(ports.calls).toEqual(['dlq 1:no-before-image', 'commit 3', 'commit 6']);
    expect(ports.postings).toEqual([]);
  });

  it('cuts an idle partition’s window by time', async () => {
    const ports = new RecordingPorts();
    await windows(ports, { maxAgeMs: 30 }).offer([change(7)], 8n, 8n);
    expect(ports.calls).toEqual([]);
    await sleep(120);
    expect(ports.calls).toEqual(['commit 7 marked', `post ${topic}:0:7-7`, 'commit 8']);
  });

  it('commits nothing once its assignment has ended', async () => {
    const ports = new RecordingPorts();
    const controller = new AbortController();
    const subject = windows(ports, { signal: controller.signal });
    controller.abort(new Error('reassigned'));
    await expect(subject.offer([change(0), change(1), change(2)], 3n, 3n)).rejects.toThrow('reassigned');
    expect(ports.calls).toEqual([]);
  });
});
