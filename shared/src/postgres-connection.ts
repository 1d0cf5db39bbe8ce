import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { ClientConfig } from 'pg';
import { z } from 'zod';
import { pemSource, readPem, readableFile, secretText } from './config-common';

const sslModes = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

export const postgresConnectionSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    /** Best given as `…__PASSWORD_FILE`, or `passwordFile`. */
    password: secretText.optional(),
    /** A file holding the password (a mounted secret); read at every connect, so a rotated secret is picked up. */
    passwordFile: readableFile.optional(),
    /**
     * libpq's TLS modes. Default `disable` (the local stack); use `verify-full` in production. `require`
     * encrypts without checking the certificate, unless `sslRootCert` is given (then like `verify-ca`,
     * as libpq does). libpq's `prefer` and `allow` are refused: node-postgres cannot fall back from TLS to
     * plain text, and a silent downgrade is what `prefer` would mean.
     */
    sslmode: z
      .enum(sslModes, {
        errorMap: (issue, context) =>
          issue.code === 'invalid_enum_value' && (issue.received === 'prefer' || issue.received === 'allow')
            ? { message: `${issue.received} is not supported (no fallback to plain text): use disable, require, verify-ca or verify-full` }
            : { message: context.defaultError },
      })
      .default('disable'),
    /** libpq's sslrootcert: CA bundle for `verify-ca` / `verify-full`, PEM path or text (default: Node's built-in CAs). */
    sslRootCert: pemSource.optional(),
    /** libpq's sslcert: client certificate (for `cert` authentication in pg_hba), PEM path or text; needs `sslPrivateKey`. */
    sslCert: pemSource.optional(),
    /** libpq's sslkey: private key of `sslCert`, PEM path or text; best as `…__SSL_PRIVATE_KEY_FILE`. */
    sslPrivateKey: pemSource.optional(),
    /** Passphrase of an encrypted `sslPrivateKey`; best given as `…__SSL_KEY_PASSWORD_FILE`. */
    sslKeyPassword: secretText.optional(),
    /**
     * Postgres' `statement_timeout` for every statement of the session, in ms (0 = none). Default 60000:
     * nothing the fleet runs takes that long (snapshots read in chunks), and a statement stuck behind a
     * lock or on a sick server ends with an error the worker retries instead of holding it forever.
     * Replication commands (the WAL stream itself, slot creation) are not subject to it.
     */
    statementTimeoutMs: z.number().int().min(0).max(2_147_483_647).default(60_000),
    /**
     * TCP keepalive: idle time in ms before the first probe on a silent connection (0 = keepalive off).
     * Default 10000. A network cut otherwise leaves a query waiting for an answer that never comes — no
     * server-side timeout can tell the client — until the OS gives up, which may be never on an idle
     * socket; with keepalive the dead peer is found after this delay plus the OS's probes (libuv probes
     * every second, 10 times) and the query fails with a connection error.
     */
    keepAliveIdleMs: z.number().int().min(0).max(2_147_483_647).default(10_000),
  })
  .strict()
  .superRefine((connection, context) => {
    const issue = (key: string, message: string): void => context.addIssue({ code: z.ZodIssueCode.custom, path: [key], message });
    if (connection.password !== undefined && connection.passwordFile !== undefined) {
      issue('passwordFile', 'give password or passwordFile, not both');
    }
    if ((connection.sslCert === undefined) !== (connection.sslPrivateKey === undefined)) {
      issue(connection.sslCert === undefined ? 'sslCert' : 'sslPrivateKey', 'sslCert and sslPrivateKey go together');
    }
    if (connection.sslmode === 'disable') {
      for (const key of ['sslRootCert', 'sslCert', 'sslPrivateKey', 'sslKeyPassword'] as const) {
        if (connection[key] !== undefined) issue(key, 'needs sslmode require, verify-ca or verify-full');
      }
    }
  });

export type PostgresConnection = z.infer<typeof postgresConnectionSchema>;

/**
 * node-postgres settings for a connection (also the replication connections: pg-logical-replication and
 * `replication: 'database'` clients take the same config). Sessions run in UTC with ISO dates so every
 * text value the fleet reads (snapshot rows, replication tuples) has one unambiguous spelling.
 */
export function pgClientConfig(connection: PostgresConnection, applicationName: string): ClientConfig {
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(connection.passwordFile !== undefined ? { password: readFileSync(connection.passwordFile, 'utf8').trim() } : {}),
    ssl: pgSslOptions(connection),
    application_name: applicationName,
    options: `-c TimeZone=UTC -c DateStyle=ISO -c bytea_output=hex -c extra_float_digits=3 -c IntervalStyle=postgres -c statement_timeout=${connection.statementTimeoutMs}`,
    keepAlive: connection.keepAliveIdleMs > 0,
    keepAliveInitialDelayMillis: connection.keepAliveIdleMs,
  };
}

/** `sslmode` and the PEM settings as node-postgres' `ssl` option (Node TLS options; files read now). */
export function pgSslOptions(connection: PostgresConnection): false | ConnectionOptions {
  if (connection.sslmode === 'disable') return false;
  const verifyChain = connection.sslmode !== 'require' || connection.sslRootCert !== undefined;
  return {
    rejectUnauthorized: verifyChain,
    // verify-ca (and require with a root certificate) trusts the CA but not the host name in the certificate.
    ...(verifyChain && connection.sslmode !== 'verify-full' ? { checkServerIdentity: () => undefined } : {}),
    ...(connection.sslRootCert ? { ca: readPem(connection.sslRootCert) } : {}),
    ...(connection.sslCert ? { cert: readPem(connection.sslCert) } : {}),
    ...(connection.sslPrivateKey ? { key: readPem(connection.sslPrivateKey) } : {}),
    ...(connection.sslKeyPassword ? { passphrase: connection.sslKeyPassword } : {}),
  };
}
