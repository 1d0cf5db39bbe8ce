/**
 * The fault matrix's plan: which faults, in which order, when and for how long, drawn from one seed so a
 * failed run can be replayed exactly (`CDC_FAULT_MATRIX_SEED=<seed>`). Pure: the suite executes the plan.
 *
 * Three lanes run side by side, each fault after a random pause following the previous one of its lane:
 * the messaging servers (registry, kept and emptied; Kafka: each outage ends with a restart before the next begins), the
 * stores (Redis, a Postgres shard) and the edge (receiver faults, poison rows, DDL). Faults of different
 * lanes overlap at random points.
 */

export type ServerFault =
  | { kind: 'registry-restart'; empty: boolean; downMs: number }
  | { kind: 'kafka-term'; downMs: number }
  | { kind: 'kafka-kill'; downMs: number }
  | { kind: 'redis-restart'; downMs: number }
  | { kind: 'redis-flushdb' }
  | { kind: 'postgres-restart'; shard: number; downMs: number };

export type EdgeFault =
  | { kind: 'receiver-stall'; receiver: 'wms' | 'erp'; holdMs: number }
  | { kind: 'receiver-errors'; receiver: 'wms' | 'erp'; errorRate: number; holdMs: number }
  | { kind: 'poison-row'; sku: string }
  | { kind: 'compatible-ddl'; shard: number }
  | { kind: 'incompatible-ddl'; shard: number };

/** A fault of either lane, after a pause of `gapMs` following the previous one of its lane. */
export interface Step<F> {
  gapMs: number;
  fault: F;
}

export interface FaultSchedule {
  seed: number;
  messaging: Step<ServerFault>[];
  stores: Step<ServerFault>[];
  edge: Step<EdgeFault>[];
}

/** mulberry32: a small, well-distributed 32-bit generator; enough for test plans, not for secrets. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The seed from `CDC_FAULT_MATRIX_SEED` when set (a replay), else a fresh one. */
export function matrixSeed(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(raw);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new Error(`CDC_FAULT_MATRIX_SEED must be an integer in 0..2^32-1, got "${raw}"`);
  return seed;
}

function between(random: () => number, low: number, high: number): number {
  return Math.round(low + random() * (high - low));
}

function shuffled<T>(random: () => number, items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * SKUs every sink must refuse (`stockKeyProblem`): a brace (it would move a Redis Cluster hash tag), a
 * leading blank, a control character. One of each, so each rule is proven under faults.
 */
export const poisonSkus = ['POISON{1}', ' POISON-2', 'POISON-3\t'] as const;

export function planFaults(seed: number, shards: number): FaultSchedule {
  const random = seededRandom(seed);
  const shard = (): number => Math.floor(random() * shards);
  // The registry comes back once with its stored schemas (as Confluent's does from its `_schemas` topic) and
  // once empty (an in-memory registry, or one whose storage was lost): ids are then handed out again from 1.
  const messaging = shuffled<ServerFault>(random, [
    { kind: 'registry-restart', empty: false, downMs: between(random, 2_000, 6_000) },
    { kind: 'registry-restart', empty: true, downMs: between(random, 2_000, 6_000) },
    { kind: 'kafka-term', downMs: between(random, 2_000, 8_000) },
    { kind: 'kafka-kill', downMs: between(random, 2_000, 8_000) },
  ]).map((fault) => ({ gapMs: between(random, 2_000, 7_000), fault }));
  const stores = shuffled<ServerFault>(random, [
    { kind: 'redis-restart', downMs: between(random, 1_000, 4_000) },
    { kind: 'redis-flushdb' },
    { kind: 'redis-flushdb' },
    { kind: 'postgres-restart', shard: shard(), downMs: between(random, 1_000, 5_000) },
    { kind: 'postgres-restart', shard: shard(), downMs: between(random, 1_000, 5_000) },
  ]).map((fault) => ({ gapMs: between(random, 5_000, 20_000), fault }));
  const edge = shuffled<EdgeFault>(random, [
    ...(['wms', 'erp'] as const).flatMap((receiver): EdgeFault[] => [
      { kind: 'receiver-stall', receiver, holdMs: between(random, 4_000, 10_000) },
      { kind: 'receiver-stall', receiver, holdMs: between(random, 4_000, 10_000) },
      { kind: 'receiver-errors', receiver, errorRate: 1, holdMs: between(random, 3_000, 8_000) },
      { kind: 'receiver-errors', receiver, errorRate: 0.5, holdMs: between(random, 3_000, 8_000) },
    ]),
    ...poisonSkus.map((sku): EdgeFault => ({ kind: 'poison-row', sku })),
    ...Array.from({ length: shards }, (_, id): EdgeFault => ({ kind: 'compatible-ddl', shard: id })),
    { kind: 'incompatible-ddl', shard: shard() },
  ]).map((fault) => ({ gapMs: between(random, 1_000, 6_000), fault }));
  return { seed, messaging, stores, edge };
}

export function describeFault(fault: ServerFault | EdgeFault): string {
  switch (fault.kind) {
    case 'registry-restart':
      return fault.empty
        ? `registry stopped, its schemas deleted, down ${fault.downMs} ms, started empty`
        : `registry stopped, down ${fault.downMs} ms, restarted with its stored schemas`;
    case 'kafka-term':
      return `Kafka SIGTERM, down ${fault.downMs} ms, restarted`;
    case 'kafka-kill':
      return `Kafka SIGKILL, down ${fault.downMs} ms, restarted`;
    case 'redis-restart':
      return `Redis stopped (in memory: restarts empty), down ${fault.downMs} ms`;
    case 'redis-flushdb':
      return 'Redis FLUSHDB of the read model';
    case 'postgres-restart':
      return `Postgres shard ${fault.shard} stopped (fast), down ${fault.downMs} ms, restarted`;
    case 'receiver-stall':
      return `${fault.receiver.toUpperCase()} receiver stalls (answers nothing) for ${fault.holdMs} ms`;
    case 'receiver-errors':
      return `${fault.receiver.toUpperCase()} receiver answers 500 to ${fault.errorRate * 100} % of requests for ${fault.holdMs} ms`;
    case 'poison-row':
      return `poison stock row sku ${JSON.stringify(fault.sku)}`;
    case 'compatible-ddl':
      return `shard ${fault.shard}: ALTER TABLE stock ADD COLUMN note text`;
    case 'incompatible-ddl':
      return `shard ${fault.shard}: ALTER TABLE fault_notes ALTER COLUMN qty TYPE text (the reader halts; the operator accepts it)`;
  }
}

/** The plan as printed before the run: enough to see what happened and to replay it. */
export function formatSchedule(schedule: FaultSchedule): string[] {
  const lane = (name: string, steps: Step<ServerFault | EdgeFault>[]): string[] => [
    `  ${name}:`,
    ...steps.map(
      (step, index) => `    ${String(index + 1).padStart(2)}. after ${String(step.gapMs).padStart(5)} ms: ${describeFault(step.fault)}`,
    ),
  ];
  return [
    `fault matrix seed ${schedule.seed} (replay: CDC_FAULT_MATRIX_SEED=${schedule.seed})`,
    ...lane('messaging servers', schedule.messaging),
    ...lane('stores, alongside', schedule.stores),
    ...lane('edge, alongside', schedule.edge),
  ];
}
