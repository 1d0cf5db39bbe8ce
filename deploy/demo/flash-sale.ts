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

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

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

  constructor(private readonly options: FlashSaleOptions) {}

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

  private async buyer(deadline: number): Promise<void> {
    const { schema, hotSkus, otherSkus } = this.options;
    while (Date.now() < deadline) {
      const hot = Math.random() < 0.8;
      const sku = hot ? pick(hotSkus) : pick(otherSkus);
      const quantity = hot ? 1 : 1 + Math.floor(Math.random() * 3);
      await this.attempt(async () => {
        const client = await this.poolOf(sku).connect();
        try {
          if (await purchase(client, schema, sku, pick(warehouses), quantity)) this.counters.purchases++;
          else this.counters.soldOut++;
        } finally {
          client.release();
        }
      });
      await sleep(20 + Math.random() * 180);
    }
  }

  private async background(deadline: number, everyMs: number, work: () => Promise<void>): Promise<void> {
    while (Date.now() < deadline) {
      await this.attempt(work);
      await sleep(everyMs);
    }
  }

  /** Runs the sale to its end; resolves when every buyer and background task has finished. */
  async run(): Promise<void> {
    const { schema, buyers, hotSkus, otherSkus, durationMs } = this.options;
    this.startedAt = Date.now();
    const deadline = this.startedAt + durationMs;
    // Staggered arrivals: buyers join over the first tenth of the sale, as traffic ramps up.
    const buyerRuns = Array.from({ length: buyers }, async (_, index) => {
      await sleep((index / buyers) * durationMs * 0.1);
      await this.buyer(deadline);
    });
    const replenish = this.background(deadline, 250, async () => {
      const sku = pick(hotSkus);
      await restock(this.poolOf(sku), schema, sku, pick(warehouses), 25);
      this.counters.restocks++;
    });
    const restockRest = this.background(deadline, 100, async () => {
      const sku = pick(otherSkus);
      await restock(this.poolOf(sku), schema, sku, pick(warehouses), 10);
      this.counters.restocks++;
    });
    const shipments = [0, 1].map(() =>
      this.background(deadline, 20, async () => {
        const sku = Math.random() < 0.8 ? pick(hotSkus) : pick(otherSkus);
        if (await ship(this.poolOf(sku), schema, sku, pick(warehouses))) this.counters.shipments++;
      }),
    );
    await Promise.all([...buyerRuns, replenish, restockRest, ...shipments]);
  }
}
