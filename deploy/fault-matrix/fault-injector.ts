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

/** What the registry held of the side table's subject when it took the changed schema without a halt. */
export interface AcceptedAsFirstVersion {
  shard: number;
  subject: string;
  /** The type of `qty` in each version the registry holds of the subject, oldest first. */
  qtyTypes: string[];
}

/** Carries out the plan's faults against the matrix's own stack and fleet, as the outside world would. */
export class FaultInjector {
  /** `sku|warehouse` of every poison row written. */
  readonly poisonKeys = new Set<string>();
  readonly halts: HaltHandled[] = [];
  /**
   * The incompatible change met a registry emptied between the side table's last registration and the
   * change: with no earlier version to be compatible with, the registry took the new schema as the subject's
   * first, and the reader rightly went on without a halt.
   */
  readonly acceptedAsFirstVersion: AcceptedAsFirstVersion[] = [];
  /** How often the registry has been stopped to come back empty. */
  private registryEmptyings = 0;

  constructor(private readonly world: MatrixWorld) {}

  private get schema(): string {
    return sqlIdentifier(this.world.fleet.schema);
  }

  async server(fault: ServerFault): Promise<void> {
    const { site, log } = this.world;
    const stackLog = (line: string): void => log(`  ${line}`);
    switch (fault.kind) {
      case 'registry-restart':
        if (fault.empty) this.registryEmptyings++;
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
    const subject = `${fleet.prefix}.${fleet.schema}.${sideTable}-value`;
    // A registry emptied since the side table's last change holds no version to refuse the change against:
    // a change of the old shape first puts one there (unless the registry is emptied again in between).
    await this.retried(`touch ${sideTable} on shard ${shard}`, () =>
      pools[shard]!.query(`update ${this.schema}.${sideTable} set qty = qty where id = 1`),
    );
    await waitFor(
      `${subject} to hold the side table's current schema`,
      async () => (await this.qtyTypesOf(subject).catch((): string[] => [])).includes('int'),
      120_000,
      500,
    );
    const emptiedBefore = this.registryEmptyings;
    const logFrom = statSync(logFile).size;
    const exitsBefore = supervisor.exits.length;
    await this.retried(`change ${sideTable}.qty's type on shard ${shard}`, () =>
      pools[shard]!.query(
        // One simple query: both statements in one implicit transaction, and a retry finds nothing half-done.
        `alter table ${this.schema}.${sideTable} alter column qty type text using qty::text; insert into ${this.schema}.${sideTable} values (2, 'two') on conflict do nothing`,
      ),
    );
    // The reason inside its JSON log line, escapes and all (up to the string's closing quote), unescaped below.
    const pattern = new RegExp(`refused the new schema of [a-z0-9_]+\\.${sideTable}: column qty changed type(?:[^"\\\\]|\\\\.)*`);
    const outcome = await waitFor(
      `${reader} to halt on the refused schema change`,
      async (): Promise<{ message: string } | { qtyTypes: string[] } | undefined> => {
        const halted = supervisor.exits.slice(exitsBefore).some((exit) => exit.name === reader);
        const found = pattern.exec(readFileSync(logFile, 'utf8').slice(logFrom))?.[0];
        const line = found === undefined ? undefined : (JSON.parse(`"${found}"`) as string);
        if (halted && line) return { message: line };
        if (this.registryEmptyings === emptiedBefore) return undefined;
        const qtyTypes = await this.qtyTypesOf(subject).catch(() => undefined);
        return qtyTypes?.length && qtyTypes.every((type) => type === 'string') ? { qtyTypes } : undefined;
      },
      120_000,
      500,
    );
    if ('qtyTypes' in outcome) {
      log(`  ${reader} did not halt: the registry, emptied since, took the changed schema as ${subject}'s first version`);
      this.acceptedAsFirstVersion.push({ shard, subject, qtyTypes: outcome.qtyTypes });
      return;
    }
    const { message } = outcome;
    const exitCodes = supervisor.exits
      .slice(exitsBefore)
      .filter((exit) => exit.name === reader)
      .map((exit) => exit.code);
    log(`  ${reader} halted (exit ${exitCodes.join(', ')}): ${message}; the operator accepts the change for the subject and restarts it`);
    await fleet.replaceReader(shard, { CDC__REGISTRY__SUBJECT_COMPATIBILITY: `{"${subject}": NONE}` });
    this.halts.push({ shard, message, exitCodes });
  }

  /** The non-null type of the row's `qty` in each version the registry holds of the side table's value subject. */
  private async qtyTypesOf(subject: string): Promise<string[]> {
    const base = `${this.world.registryUrl}/subjects/${encodeURIComponent(subject)}/versions`;
    const versions: unknown = await (await fetch(base)).json();
    if (!Array.isArray(versions)) return [];
    const types: string[] = [];
    for (const version of versions as number[]) {
      const { schema } = (await (await fetch(`${base}/${version}`)).json()) as { schema: string };
      // The envelope's `before` is ["null", row record]; each row field is ["null", its type].
      type Fields = { fields?: Array<{ name: string; type: unknown }> };
      const before = (JSON.parse(schema) as Fields).fields?.find((field) => field.name === 'before')?.type;
      const row = Array.isArray(before) ? (before[1] as Fields) : undefined;
      const qty = row?.fields?.find((field) => field.name === 'qty')?.type;
      const type: unknown = Array.isArray(qty) ? qty[1] : qty;
      types.push(typeof type === 'string' ? type : JSON.stringify(type));
    }
    return types;
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
