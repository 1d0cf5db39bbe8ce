import { snapshotRequestTable, snapshotRequestTableDdl, sqlIdentifier, sqlQualifiedName } from '@inventory-cdc/shared';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { escapeLiteral, type Client } from 'pg';

export interface ReaderRoleOptions {
  /** Login role of the wal-reader, e.g. `cdc_reader`. */
  role: string;
  /** Its password (printable ASCII); only a SCRAM-SHA-256 verifier of it is sent to Postgres. */
  password: string;
  /** The captured tables, `schema.table`: the role may SELECT these and nothing else. */
  tables: string[];
  /** The reader's publication (its `capture.publicationName`, default the slot name); made to list exactly `tables`. */
  publication: string;
}

const identifier = /^[a-z_][a-z0-9_]*$/;

/**
 * Creates or updates the wal-reader's least-privilege role on one shard, run as a superuser (or the owner of
 * the tables with CREATEROLE): LOGIN REPLICATION and nothing else of the role attributes; USAGE on the
 * captured tables' schemas and SELECT on exactly those tables (grants on other tables are revoked); and
 * the publication, owned by the admin, listing exactly the captured tables. Idempotent: run it again when
 * the captured tables or the password change. See deploy/security/README.md for the reasoning.
 */
export async function ensureReaderRole(admin: Client, options: ReaderRoleOptions): Promise<void> {
  const { role, publication } = checkOptions(options);
  const tables = options.tables.map((table) => table.split('.') as [string, string]);
  const verifier = scramSha256Verifier(options.password);
  const exists = await admin.query('select 1 from pg_roles where rolname = $1', [role]);
  const attributes = 'login replication nosuperuser nocreatedb nocreaterole nobypassrls noinherit';
  const quotedRole = sqlIdentifier(role);
  // DDL takes no parameters, so the verifier (not the password) goes in as a quoted literal.
  await admin.query(`${exists.rowCount === 0 ? 'create' : 'alter'} role ${quotedRole} ${attributes} password ${escapeLiteral(verifier)}`);
  const database = (await admin.query<{ name: string }>('select current_database() as name')).rows[0]!.name;
  await admin.query(`grant connect on database ${sqlIdentifier(database)} to ${quotedRole}`);

  // Names read back from the catalogue are whatever a table owner chose (quotes, dots, semicolons
  // included): they are compared as (schema, table) pairs and quoted, never spliced in as text.
  const [requestSchema, requestTable] = snapshotRequestTable.split('.') as [string, string];
  const wanted = new Set([...tables, [requestSchema, requestTable]].map(([schema, table]) => JSON.stringify([schema, table])));
  const granted = await admin.query<{ table_schema: string; table_name: string }>(
    `select table_schema, table_name from information_schema.role_table_grants
      where grantee = $1 and privilege_type = 'SELECT'`,
    [role],
  );
  for (const { table_schema: schema, table_name: table } of granted.rows) {
    if (!wanted.has(JSON.stringify([schema, table])))
      await admin.query(`revoke select on ${sqlQualifiedName(schema, table)} from ${quotedRole}`);
  }
  for (const schema of new Set(tables.map(([schema]) => schema))) {
    await admin.query(`grant usage on schema ${sqlIdentifier(schema)} to ${quotedRole}`);
  }
  const list = tables.map(([schema, table]) => sqlQualifiedName(schema, table)).join(', ');
  await admin.query(`grant select on ${list} to ${quotedRole}`);

  // Ad-hoc snapshot requests: the admin owns the table (so only it, and whom it grants INSERT to, may ask
  // for one); the reader may only read it to check that a signal was asked for.
  await admin.query(snapshotRequestTableDdl);
  await admin.query(`grant usage on schema cdc_control to ${quotedRole}`);
  await admin.query(`grant select on ${snapshotRequestTable} to ${quotedRole}`);

  const found = await admin.query<{ puballtables: boolean }>('select puballtables from pg_publication where pubname = $1', [publication]);
  if (found.rowCount === 0) await admin.query(`create publication ${sqlIdentifier(publication)} for table ${list}`);
  else await admin.query(`alter publication ${sqlIdentifier(publication)} set table ${list}`);
}

/** Drops the role after revoking what `ensureReaderRole` granted (its slots must be dropped first). */
export async function dropReaderRole(admin: Client, role: string): Promise<void> {
  if (!identifier.test(role)) throw new Error(`role must be a lower-case SQL identifier, got ${JSON.stringify(role)}`);
  const exists = await admin.query('select 1 from pg_roles where rolname = $1', [role]);
  if (exists.rowCount === 0) return;
  await admin.query(`drop owned by ${sqlIdentifier(role)}`);
  await admin.query(`drop role ${sqlIdentifier(role)}`);
}

function checkOptions(options: ReaderRoleOptions): ReaderRoleOptions {
  const problems: string[] = [];
  if (!identifier.test(options.role)) problems.push('role must be a lower-case SQL identifier');
  if (!identifier.test(options.publication)) problems.push('publication must be a lower-case SQL identifier');
  if (options.tables.length === 0) problems.push('tables must name at least one captured table');
  for (const table of options.tables) {
    const parts = table.split('.');
    if (parts.length !== 2 || !parts.every((part) => identifier.test(part)))
      problems.push(`tables: ${JSON.stringify(table)} is not schema.table`);
  }
  // Postgres normalises non-ASCII passwords (SASLprep) before hashing; printable ASCII needs none.
  if (!/^[\x21-\x7e]{12,}$/.test(options.password)) problems.push('password must be at least 12 printable ASCII characters');
  if (problems.length > 0) throw new Error(`ensureReaderRole: ${problems.join('; ')}`);
  return options;
}

/** Postgres' stored form of a SCRAM-SHA-256 password (RFC 5802 / 7677), as `\password` in psql builds it. */
export function scramSha256Verifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
