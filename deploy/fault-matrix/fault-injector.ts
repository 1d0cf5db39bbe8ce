import { shardOf, sqlIdentifier } from '@inventory-cdc/shared';
import { waitFor } from '@inventory-cdc/shared/testing';
import type Redis from 'ioredis';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import type { DemoFleet } from '../demo/demo-fleet';
import { type StackSite, startStackService, stopStackService } from '../local/stack';
import type { EdgeFault, ServerFault } from './fault-schedule';
import type { FleetSupervisor } from './fleet-supervisor';

/** The side table the incompatible DDL changes: captured by the readers, read by no sink. */
export const sideTable = 'fault_notes';
export const sideTableDdl = (schema: string): string =>
  `create table ${sqlIdentifier(schema)}.${sideTable} (id int4 primary key, qty int4 not null); insert into ${sqlIdentifier(schema)}.${sideTable} values (1, 1)`;

export interface MatrixWorld {
  site: StackSite;
  fleet: DemoFleet;
  /** One pool per shard, indexed by shard. */
  pools: Pool[];
  /** The read model's Redis database. */
  redis: Redis;
  supervisor: FleetSupervisor;
  kafkaBrokers: string[];
  registryUrl: string;
  /** The reference receivers' database. */
  receiversDatabaseUrl: string;
  log: (line: string) => void;
}

/** What the operator saw and did about the refused schema change. */
export interface HaltHandled {
  shard: number;
  /** The reader's log line naming the refused change. */
  message: string;
  exitCodes: (number | null)[];
}

/** Carries out the plan's faults against the matrix's own stack and fleet, as the outside world would. */
export class FaultInjector {
  /** `sku|warehouse` of every poison row written. */
  readonly poisonKeys = new Set<string>();
  readonly halts: HaltHandled[] = [];

  constructor(private readonly world: MatrixWorld) {}

  private get schema(): string {
    return sqlIdentifier(this.world.fleet.schema);
  }

  async server(fault: ServerFault): Promise<void> {
    const { site, log } = this.world;
    const stackLog = (line: string): void => log(`  ${line}`);
    switch (fault.kind) {
      case 'registry-restart':
        await stopStackService('registry', { site, log: stackLog, wipeData: fault.empty });
        await sleep(fault.downMs);
        return startStackService('registry', { site, log: stackLog });
      case 'kafka-term':
      case 'kafka-kill':
        await stopStackService('kafka', { site, log: stackLog, signal: fault.kind === 'kafka-kill' ? 'SIGKILL' : 'SIGTERM' });
        await sleep(fault.downMs);
        return startStackService('kafka', { site, log: stackLog });
      case 'redis-restart':
        await stopStackService('redis', { site, log: stackLog });
        await sleep(fault.downMs);
        return startStackService('redis', { site, log: stackLog });
      case 'redis-flushdb':
        await this.world.redis.flushdb();
        return;
      case 'postgres-restart':
        await stopStackService(`postgres-${fault.shard}`, { site, log: stackLog });
        await sleep(fault.downMs);
        return startStackService(`postgres-${fault.shard}`, { site, log: stackLog });
    }
  }

  async edge(fault: EdgeFault): Promise<void> {
    switch (fault.kind) {
      case 'receiver-stall':
        return this.receiverFaults(fault.receiver, { timeoutRate: 1 }, fault.holdMs);
      case 'receiver-errors':
        return this.receiverFaults(fault.receiver, { errorRate: fault.errorRate }, fault.holdMs);
      case 'poison-row':
        return this.poisonRow(fault.sku);
      case 'compatible-ddl':
        return this.compatibleDdl(fault.shard);
      case 'incompatible-ddl':
        return this.incompatibleDdl(fault.shard);
    }
  }

  /**
   * Sets the receiver's fault knobs for `holdMs`, then clears them. A receiver the supervisor restarted in
   * between comes back healthy by itself (faults live in its memory).
   */
  private async receiverFaults(receiver: 'wms' | 'erp', knobs: Record<string, number>, holdMs: number): Promise<void> {
    const url = `${this.world.fleet.url(`${receiver}-receiver`)}/admin/faults`;
    const put = async (body: Record<string, number>): Promise<void> => {
      const response = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!response.ok) throw new Error(`PUT ${url} answered ${response.status}: ${await response.text()}`);
    };
    await put(knobs);
    await sleep(holdMs);
    await waitFor(`the ${receiver} receiver to take its faults off`, () => put({}).then(() => true), 60_000, 500);
  }

  /** A committed stock row whose key every sink must refuse and dead-letter (see `stockKeyProblem`). */
  private async poisonRow(sku: string): Promise<void> {
    const pool = this.world.pools[shardOf(sku, this.world.pools.length)]!;
    await this.retried(`insert poison row ${JSON.stringify(sku)}`, () =>
      pool.query(`insert into ${this.schema}.stock (sku, warehouse, on_hand) values ($1, 'WH-A', 7) on conflict do nothing`, [sku]),
    );
    this.poisonKeys.add(`${sku}|WH-A`);
  }

  /** BACKWARD compatible (every row field is nullable with a null default): a new schema version, no halt. */
  private async compatibleDdl(shard: number): Promise<void> {
    const pool = this.world.pools[shard]!;
    await this.retried(`add column note on shard ${shard}`, () =>
      pool.query(`alter table ${this.schema}.stock add column if not exists note text`),
    );
    await this.retried(`write a note on shard ${shard}`, () =>
      pool.query(
        `update ${this.schema}.stock set note = 'fault matrix', updated_at = now() where sku in (select sku from ${this.schema}.stock where sku like 'SKU-%' limit 5)`,
      ),
    );
  }

  /**
   * An incompatible type change halts the shard's reader by design. The operator sees the halt (the
   * reader exits non-zero naming the table and column; the supervisor's restarts meet it again) and takes
   * the documented way on (workers/wal-reader/README.md, "A refused schema change"): accept the change for
   * that subject in the reader's config, `registry.subjectCompatibility`, and restart the reader.
   */
  private async incompatibleDdl(shard: number): Promise<void> {
    const { fleet, pools, supervisor, log } = this.world;
    const reader = `wal-reader-${shard}`;
    const logFile = fleet.members.find((entry) => entry.member.name === reader)!.process.logFile;
    const logFrom = statSync(logFile).size;
    const exitsBefore = supervisor.exits.length;
    await this.retried(`change ${sideTable}.qty's type on shard ${shard}`, () =>
      pools[shard]!.query(
        // One simple query: both statements in one implicit transaction, and a retry finds nothing half-done.
        `alter table ${this.schema}.${sideTable} alter column qty type text using qty::text; insert into ${this.schema}.${sideTable} values (2, 'two') on conflict do nothing`,
      ),
    );
    const pattern = new RegExp(`refused the new schema of [a-z0-9_]+\\.${sideTable}: column qty changed type[^"]*`);
    const message = await waitFor(
      `${reader} to halt on the refused schema change`,
      () => {
        const halted = supervisor.exits.slice(exitsBefore).some((exit) => exit.name === reader);
        const line = pattern.exec(readFileSync(logFile, 'utf8').slice(logFrom))?.[0];
        return halted && line;
      },
      120_000,
      500,
    );
    const exitCodes = supervisor.exits
      .slice(exitsBefore)
      .filter((exit) => exit.name === reader)
      .map((exit) => exit.code);
    log(`  ${reader} halted (exit ${exitCodes.join(', ')}): ${message}; the operator accepts the change for the subject and restarts it`);
    const subject = `${fleet.prefix}.${fleet.schema}.${sideTable}-value`;
    await fleet.replaceReader(shard, { CDC__REGISTRY__SUBJECT_COMPATIBILITY: `{"${subject}": NONE}` });
    this.halts.push({ shard, message, exitCodes });
  }

  /** Client-side retries of one statement while a fault of the other lane has its server down. */
  private async retried(what: string, statement: () => Promise<unknown>): Promise<void> {
    await waitFor(
      what,
      () =>
        statement().then(
          () => true,
          () => false,
        ),
      120_000,
      500,
    );
  }
}
