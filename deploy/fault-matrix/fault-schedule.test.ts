import { formatSchedule, matrixSeed, planFaults, seededRandom } from './fault-schedule';

describe('fault schedule', () => {
  it('is the same plan for the same seed, so a printed seed replays a run', () => {
    expect(planFaults(12345, 2)).toEqual(planFaults(12345, 2));
    expect(formatSchedule(planFaults(12345, 2))).toEqual(formatSchedule(planFaults(12345, 2)));
    expect(planFaults(12345, 2)).not.toEqual(planFaults(12346, 2));
  });

  it('plans every kind of fault in its lane, on existing shards', () => {
    for (const seed of [0, 1, 42, 2 ** 31]) {
      const plan = planFaults(seed, 2);
      expect(new Set(plan.messaging.map((step) => step.fault.kind))).toEqual(new Set(['registry-restart', 'kafka-term', 'kafka-kill']));
      const registryRestarts = plan.messaging.flatMap((step) => (step.fault.kind === 'registry-restart' ? [step.fault.empty] : []));
      expect(registryRestarts.sort()).toEqual([false, true]);
      expect(new Set(plan.stores.map((step) => step.fault.kind))).toEqual(new Set(['redis-restart', 'redis-flushdb', 'postgres-restart']));
      expect(new Set(plan.edge.map((step) => step.fault.kind))).toEqual(
        new Set(['receiver-stall', 'receiver-errors', 'poison-row', 'compatible-ddl', 'incompatible-ddl']),
      );
      for (const { fault } of [...plan.messaging, ...plan.stores, ...plan.edge])
        if ('shard' in fault) expect([0, 1]).toContain(fault.shard);
      expect(
        plan.edge
          .filter((step) => step.fault.kind === 'compatible-ddl')
          .map((step) => (step.fault as { shard: number }).shard)
          .sort(),
      ).toEqual([0, 1]);
    }
  });

  it('draws in [0, 1) from any seed', () => {
    const random = seededRandom(7);
    const draws = Array.from({ length: 1_000 }, () => random());
    expect(draws.every((draw) => draw >= 0 && draw < 1)).toBe(true);
    expect(new Set(draws).size).toBeGreaterThan(990);
  });

  it('takes the seed of a replay, refuses a malformed one, and makes one up otherwise', () => {
    expect(matrixSeed('987')).toBe(987);
    expect(() => matrixSeed('x1')).toThrow(/CDC_FAULT_MATRIX_SEED/);
    expect(Number.isInteger(matrixSeed(undefined))).toBe(true);
  });
});
