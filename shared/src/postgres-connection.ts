import { readFileSync } from 'node:fs';
import type { ClientConfig } from 'pg';
import { z } from 'zod';

export const postgresConnectionSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    /** Best given as `…__PASSWORD_FILE`, or `passwordFile`. */
    password: z.string().optional(),
    /** A file holding the password (a mounted secret); read when connecting. */
    passwordFile: z.string().optional(),
    /** libpq-style TLS mode. Default `disable` (the local stack); use `verify-full` in production. */
    sslmode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).default('disable'),
    /** CA bundle for `verify-ca` / `verify-full`. */
    sslRootCertFile: z.string().optional(),
  })
  .strict();

export type PostgresConnection = z.infer<typeof postgresConnectionSchema>;

/**
 * node-postgres settings for a connection. Sessions run in UTC with ISO dates so every text value the
 * fleet reads (snapshot rows, replication tuples) has one unambiguous spelling.
 */
export function pgClientConfig(connection: PostgresConnection, applicationName: string): ClientConfig {
  const ssl =
    connection.sslmode === 'disable'
      ? false
      : {
          rejectUnauthorized: connection.sslmode !== 'require',
          ...(connection.sslRootCertFile ? { ca: readFileSync(connection.sslRootCertFile, 'utf8') } : {}),
          ...(connection.sslmode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
        };
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(connection.passwordFile !== undefined ? { password: readFileSync(connection.passwordFile, 'utf8').trim() } : {}),
    ssl,
    application_name: applicationName,
    options: '-c TimeZone=UTC -c DateStyle=ISO -c bytea_output=hex -c extra_float_digits=3 -c IntervalStyle=postgres',
  };
}
