import { WindowAssembler, type ClosedWindow, type WindowRange } from './window-assembler';

const limits = { maxEvents: 3, maxAgeMs: 1_000 };

type Step = ['add', number, number] | ['add', number, number, number] | ['pass', number] | ['tick', number];

/**
 * Runs steps (add offset at time [committed at time], pass position, tick at time) and lists the windows
 * cut, as `from-to:offsets`.
 */
function run(steps: Step[], pending?: WindowRange): string[] {
  const assembler = new WindowAssembler<number>(limits, pending);
  const closed: ClosedWindow<number>[] = [];
  for (const step of steps) {
    if (step[0] === 'add') closed.push(...assembler.add(BigInt(step[1]), step[1], step[2], step[3]));
    else if (step[0] === 'pass') closed.push(...assembler.passPosition(BigInt(step[1])));
    else closed.push(...assembler.tick(step[1]));
  }
  return closed.map((window) => `${window.range.from}-${window.range.to}:${window.records.join(',')}`);
}

describe('WindowAssembler', () => {
  it.each<[string, Step[], string[], WindowRange | undefined]>([
    [
      'cuts after maxEvents records',
      [
        ['add', 0, 0],
        ['add', 1, 0],
        ['add', 2, 0],
        ['add', 3, 0],
      ],
      ['0-2:0,1,2'],
      undefined,
    ],
    [
      'cuts by age on tick',
      [
        ['add', 5, 0],
        ['add', 6, 500],
        ['tick', 999],
        ['tick', 1_000],
      ],
      ['5-6:5,6'],
      undefined,
    ],
    [
      'cuts by age before a late record, which opens the next window',
      [
        ['add', 5, 0],
        ['add', 9, 1_200],
      ],
      ['5-5:5'],
      undefined,
    ],
    [
      'keeps gaps (control records, compaction) inside the range',
      [
        ['add', 10, 0],
        ['add', 14, 0],
        ['add', 20, 0],
      ],
      ['10-20:10,14,20'],
      undefined,
    ],
    ['a tick with nothing open cuts nothing', [['tick', 5_000]], [], undefined],
    [
      "cuts one maxAge after the first record's commit, not after its arrival",
      [
        ['add', 5, 300, 0],
        ['add', 6, 800, 500],
        ['tick', 999],
        ['tick', 1_000],
      ],
      ['5-6:5,6'],
      undefined,
    ],
    [
      'holds a window whose first record arrives late a quarter of maxAge, gathering what arrives meanwhile',
      [
        ['add', 5, 3_000, 0],
        ['add', 6, 3_100, 100],
        ['tick', 3_249],
        ['add', 7, 3_249, 200],
        ['tick', 3_250],
      ],
      ['5-7:5,6,7'],
      undefined,
    ],
    [
      'never holds a window longer than maxAge after its first record arrived (a source clock ahead of ours)',
      [
        ['add', 5, 0, 600],
        ['tick', 999],
        ['tick', 1_000],
      ],
      ['5-5:5'],
      undefined,
    ],
    [
      'replays a marked window exactly, ignoring the limits, then cuts by limits',
      [
        ['add', 4, 0],
        ['add', 5, 0],
        ['add', 6, 0],
        ['add', 7, 5_000],
        ['tick', 9_000],
        ['add', 8, 9_000],
        ['add', 9, 9_000],
        ['add', 10, 9_000],
        ['add', 11, 9_000],
      ],
      ['4-8:4,5,6,7,8', '9-11:9,10,11'],
      { from: 4n, to: 8n },
    ],
    [
      'closes a replayed window when a record beyond it arrives',
      [
        ['add', 4, 0],
        ['add', 12, 0],
      ],
      ['4-8:4'],
      { from: 4n, to: 8n },
    ],
    [
      'closes a replayed window when the fetch position passes its end',
      [
        ['add', 4, 0],
        ['pass', 9],
      ],
      ['4-8:4'],
      { from: 4n, to: 8n },
    ],
    [
      'a replayed window keeps its from even when its first records are gone',
      [
        ['add', 6, 0],
        ['add', 8, 0],
      ],
      ['4-8:6,8'],
      { from: 4n, to: 8n },
    ],
    [
      'a replayed window is not closed by the position before its end',
      [
        ['add', 4, 0],
        ['pass', 8],
      ],
      [],
      { from: 4n, to: 8n },
    ],
  ])('%s', (_name, steps, expected, pending) => {
    expect(run(steps, pending)).toEqual(expected);
  });

  it('a replay cuts [from, to] however the first run was timed: the same posting id', () => {
    // First run: records 0..4 arrive slowly and the time cut falls after offset 1.
    const first = run([
      ['add', 0, 0],
      ['add', 1, 900],
      ['tick', 1_000],
      ['add', 2, 1_100],
    ]);
    expect(first).toEqual(['0-1:0,1']);
    // The replay sees all of them at once; without the marker it would cut by size: 0-2.
    expect(
      run([
        ['add', 0, 0],
        ['add', 1, 0],
        ['add', 2, 0],
      ]),
    ).toEqual(['0-2:0,1,2']);
    expect(
      run(
        [
          ['add', 0, 0],
          ['add', 1, 0],
          ['add', 2, 0],
        ],
        { from: 0n, to: 1n },
      ),
    ).toEqual(['0-1:0,1']);
  });

  it('reports when the open window is due, and never for a replay', () => {
    const assembler = new WindowAssembler<number>(limits);
    expect(assembler.dueAtMs()).toBeUndefined();
    assembler.add(1n, 1, 100);
    expect(assembler.dueAtMs()).toBe(1_100);
    const replay = new WindowAssembler<number>(limits, { from: 1n, to: 5n });
    replay.add(1n, 1, 100);
    expect(replay.dueAtMs()).toBeUndefined();
  });

  it('refuses records out of offset order', () => {
    const assembler = new WindowAssembler<number>(limits);
    assembler.add(5n, 5, 0);
    expect(() => assembler.add(5n, 5, 0)).toThrow(RangeError);
  });
});
