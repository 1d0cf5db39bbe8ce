import { shardOf } from '@inventory-cdc/shared';
import { purchase, restock, ship, warehouses } from '@inventory-cdc/shared/testing';
import type { Pool } from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FlashSaleOptions {
  /** One connection pool per shard, indexed by shard: buyers share them as an application's requests would. */
  pools: Pool[];
  schema: string;
  durationMs: number;
  buyers: number;
  hotSkus: string[];
  /** The rest of the catalogue: background orders and restocks. */
  otherSkus: string[];
  /** Source of every choice of the sale (SKUs, quantities, think times); seed it to replay a run. Default Math.random. */
  random?: () => number;
}

export interface SaleCounters {
  purchases: number;
  /** Purchases refused because the SKU was sold out in the chosen warehouse (no stock change). */
  soldOut: number;
  restocks: number;
  shipments: number;
  errors: number;
  lastError: string | undefined;
}

/**
 * The flash sale: `buyers` concurrent buyers, each one order after another (with a short think time),
 * four in five of them for a hot SKU; meanwhile background restocks (the hot SKUs get replenished, the
 * rest now and then) and shipments that turn reservations into stock leaving the warehouse. Every
 * purchase is one Postgres transaction with a conditional reservation, so availability never goes below
 * zero in the truth however many buyers race for the last unit.
 */
export class FlashSale {
  readonly counters: SaleCounters = { purchases: 0, soldOut: 0, restocks: 0, shipments: 0, errors: 0, lastError: undefined };
  private startedAt = 0;
  private deadline = 0;
  private readonly random: () => number;

  constructor(private readonly options: FlashSaleOptions) {
    this.random = options.random ?? Math.random;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  /** 0..1 of the sale's duration. */
  get progress(): number {
    if (this.startedAt === 0) return 0;
    return Math.min(1, (Date.now() - this.startedAt) / this.options.durationMs);
  }

  get elapsedMs(): number {
    return this.startedAt === 0 ? 0 : Date.now() - this.startedAt;
  }

  private poolOf(sku: string): Pool {
    return this.options.pools[shardOf(sku, this.options.pools.length)]!;
  }

  private async attempt(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.counters.errors++;
      this.counters.lastError = error instanceof Error ? error.message : String(error);
      await sleep(100);
    }
  }

  private async buyer(): Promise<void> {
    const { schema, hotSkus, otherSkus } = this.options;
    while (Date.now() < this.deadline) {
      const hot = this.random() < 0.8;
      const sku = hot ? this.pick(hotSkus) : this.pick(otherSkus);
      const quantity = hot ? 1 : 1 + Math.floor(this.random() * 3);
      await this.attempt(async () => {
        const client = await this.poolOf(sku).connect();
        try {
          if (await purchase(client, schema, sku, this.pick(warehouses), quantity)) this.counters.purchases++;
          else this.counters.soldOut++;
        } finally {
          client.release();
        }
      });
      await sleep(20 + this.random() * 180);
    }
  }

  private async background(everyMs: number, work: () => Promise<void>): Promise<void> {
    while (Date.now() < this.deadline) {
      await this.attempt(work);
      await sleep(everyMs);
    }
  }

  /** Ends the sale early: buyers and background tasks finish what they are doing and stop. */
  stop(): void {
    this.deadline = Math.min(this.deadline, Date.now());
  }

  /** Runs the sale to its end; resolves when every buyer and background task has finished. */
  async run(): Promise<void> {
    const { schema, buyers, hotSkus, otherSkus, durationMs } = this.options;
    this.startedAt = Date.now();
    this.deadline = this.startedAt + durationMs;
    // Staggered arrivals: buyers join over the first tenth of the sale, as traffic ramps up.
    const buyerRuns = Array.from({ length: buyers }, async (_, index) => {
      await sleep((index / buyers) * durationMs * 0.1);
      await this.buyer();
    });
    const replenish = this.background(250, async () => {
      const sku = this.pick(hotSkus);
      await restock(this.poolOf(sku), schema, sku, this.pick(warehouses), 25);
      this.counters.restocks++;
    });
    const restockRest = this.background(100, async () => {
      const sku = this.pick(otherSkus);
      await restock(this.poolOf(sku), schema, sku, this.pick(warehouses), 10);
      this.counters.restocks++;
    });
    const shipments = [0, 1].map(() =>
      this.background(20, async () => {
        const sku = this.random() < 0.8 ? this.pick(hotSkus) : this.pick(otherSkus);
        if (await ship(this.poolOf(sku), schema, sku, this.pick(warehouses))) this.counters.shipments++;
      }),
    );
    await Promise.all([...buyerRuns, replenish, restockRest, ...shipments]);
  }
}
