import { setTimeout as sleep } from 'node:timers/promises';
import { forEachBounded, lanesBySku } from './sku-lanes';

describe('lanesBySku', () => {
  it.each([
    ['nothing', [], []],
    ['one SKU, kept in offset order', ['A1', 'A2', 'A3'], [['A1', 'A2', 'A3']]],
    [
      'interleaved SKUs, each lane in offset order, lanes by first appearance',
      ['B1', 'A1', 'B2', 'C1', 'A2', 'B3'],
      [['B1', 'B2', 'B3'], ['A1', 'A2'], ['C1']],
    ],
  ])('%s', (_name, items, lanes) => {
    expect(lanesBySku(items, (item) => item[0]!)).toEqual(lanes);
  });
});

describe('forEachBounded', () => {
  it('never runs more than the limit at once and runs every item', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachBounded(
      Array.from({ length: 20 }, (_, i) => i),
      4,
      async (item) => {
        peak = Math.max(peak, ++running);
        await sleep(1 + (item % 3));
        running--;
        done.push(item);
      },
    );
    expect(peak).toBe(4);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('stops starting items after a failure, waits for the running ones, and throws the first error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachBounded([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      if (item === 1) throw new Error('boom');
      await sleep(20);
      finished.push(item);
    });
    await expect(run).rejects.toThrow('boom');
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([0]);
  });

  it('handles an empty list', async () => {
    await expect(forEachBounded([], 3, () => Promise.reject(new Error('not called')))).resolves.toBeUndefined();
  });
});
