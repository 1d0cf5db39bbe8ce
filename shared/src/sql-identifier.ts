import { escapeIdentifier } from 'pg';

/**
 * SQL text built from names: every identifier goes through Postgres's own quoting rules (double quotes
 * around it, inner double quotes doubled, as `format('%I')` and libpq's PQescapeIdentifier do), so a
 * name read from a catalogue or a config cannot end the identifier and run a statement of its own.
 * Quoted names are case-sensitive: pass them as Postgres stores them (lower case for unquoted DDL).
 */
export function sqlIdentifier(name: string): string {
  return escapeIdentifier(name);
}

/** `schema.table` as `"schema"."table"`, each part quoted by `sqlIdentifier`. */
export function sqlQualifiedName(schema: string, name: string): string {
  return `${escapeIdentifier(schema)}.${escapeIdentifier(name)}`;
}
