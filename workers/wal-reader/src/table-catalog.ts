import type { PgoutputMessage } from './pgoutput-decode';
import { compileTable, type CompiledTable, type TableShape } from './table-schema';

type RelationMessage = Extract<PgoutputMessage, { tag: 'relation' }>;

export interface TableCatalogPorts {
  /** Looks up a table the reader has not seen yet (a new table in a captured schema). */
  describe(schema: string, table: string): Promise<TableShape>;
  /** Makes the table's topic exist and its schemas registered, before its first event is produced. */
  prepare(table: CompiledTable, previous: CompiledTable | undefined): Promise<void>;
  topicOf(schema: string, table: string): string;
}

/**
 * The reader's knowledge of captured tables. pgoutput sends a relation message before the first change of
 * a table in a session and again whenever its shape changed (ALTER TABLE), so the columns of the relation
 * message always describe the changes that follow it; the primary key comes from the catalog, because
 * pgoutput flags replica-identity columns (all of them under REPLICA IDENTITY FULL), not the key.
 */
export class TableCatalog {
  private readonly byOid = new Map<number, CompiledTable>();
  private readonly primaryKeys = new Map<string, string[]>();

  constructor(
    private readonly ports: TableCatalogPorts,
    initial: TableShape[],
  ) {
    for (const shape of initial) {
      this.primaryKeys.set(`${shape.schema}.${shape.table}`, shape.primaryKey);
    }
  }

  /** The compiled table for a snapshot, from the catalog's description (same column order as pgoutput). */
  /** Describes a table afresh and compiles it for a snapshot read (an ad-hoc snapshot while streaming). */
  async compileFresh(schema: string, table: string): Promise<CompiledTable> {
    return this.compileForSnapshot(await this.ports.describe(schema, table));
  }

  async compileForSnapshot(shape: TableShape): Promise<CompiledTable> {
    const compiled = compileTable(shape, this.ports.topicOf(shape.schema, shape.table));
    await this.ports.prepare(compiled, undefined);
    this.byOid.set(shape.relationOid, compiled);
    return compiled;
  }

  async onRelation(message: RelationMessage): Promise<CompiledTable> {
    const name = `${message.schema}.${message.table}`;
    let primaryKey = this.primaryKeys.get(name);
    if (!primaryKey) {
      primaryKey = (await this.ports.describe(message.schema, message.table)).primaryKey;
      this.primaryKeys.set(name, primaryKey);
    }
    const shape: TableShape = {
      relationOid: message.relationOid,
      schema: message.schema,
      table: message.table,
      replicaIdentity: message.replicaIdentity,
      columns: message.columns,
      primaryKey,
    };
    const previous = this.byOid.get(message.relationOid);
    const compiled = compileTable(shape, this.ports.topicOf(shape.schema, shape.table));
    if (previous?.fingerprint === compiled.fingerprint) return previous;
    await this.ports.prepare(compiled, previous);
    this.byOid.set(message.relationOid, compiled);
    return compiled;
  }

  table(relationOid: number): CompiledTable {
    const table = this.byOid.get(relationOid);
    if (!table) throw new Error(`change for relation ${relationOid} before its relation message`);
    return table;
  }
}
