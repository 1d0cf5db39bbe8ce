import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { postgresConnectionSchema, pgClientConfig } from './postgres-connection';
import { testStackEndpoints } from '@inventory-cdc/shared/testing';

const shard = testStackEndpoints().shards[0]!;

function clientWith(settings: { statementTimeoutMs?: number; keepAliveIdleMs?: number }): Client {
  const connection = postgresConnectionSchema.parse({
    host: shard.host,
    port: shard.port,
    database: shard.database,
    user: new URL(shard.url).username || 'postgres',
    ...settings,
  });
  return new Client(pgClientConfig(connection, 'pg-timeouts-test'));
}

/** The kernel's view of this client's socket: `ss` lists a keepalive timer only on sockets with SO_KEEPALIVE. */
function socketTimers(localPort: number): string {
  return execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${localPort} )`], { encoding: 'utf8' });
}

describe('Postgres sessions opened with pgClientConfig', () => {
  it('end a statement that runs past statementTimeoutMs with an error, and the session stays usable', async () => {
    const client = clientWith({ statementTimeoutMs: 500 });
    await client.connect();
    try {
      expect((await client.query<{ statement_timeout: string }>('show statement_timeout')).rows[0]!.statement_timeout).toBe('500ms');
      const started = Date.now();
      await expect(client.query('select pg_sleep(5)')).rejects.toThrow(/statement timeout/);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect((await client.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('turn TCP keepalive on by default, so a silent dead connection is found instead of waited on', async () => {
    const withKeepAlive = clientWith({});
    const without = clientWith({ keepAliveIdleMs: 0 });
    await Promise.all([withKeepAlive.connect(), without.connect()]);
    try {
      const localPort = (client: Client): number =>
        (client as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
      expect(socketTimers(localPort(withKeepAlive))).toMatch(/timer:\(keepalive,/);
      expect(socketTimers(localPort(without))).not.toMatch(/timer:\(keepalive,/);
    } finally {
      await Promise.all([withKeepAlive.end(), without.end()]);
    }
  });
});
