import { Redis } from 'ioredis';
import { Client } from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { WaitAbandoned, testStackEndpoints, uniqueName, waitFor } from '@inventory-cdc/shared/testing';

describe('the local stack', () => {
  const endpoints = testStackEndpoints();

  it.each(endpoints.shards.map((shard) => [shard.id, shard] as const))(
    'shard %i streams a committed change through a pgoutput replication slot',
    async (_id, shard) => {
      const table = uniqueName('stack_probe');
      const client = new Client({ connectionString: shard.url });
      await client.connect();
      const service = new LogicalReplicationService({ connectionString: shard.url }, { acknowledge: { auto: false, timeoutSeconds: 0 } });
      try {
        await client.query(`create table ${table} (id int primary key, sku text not null)`);
        await client.query(`create publication ${table} for table ${table}`);
        const slot = await client.query<{ lsn: string }>(`select lsn::text from pg_create_logical_replication_slot($1, 'pgoutput')`, [
          table,
        ]);
        const inserted: unknown[] = [];
        service.on('data', (_lsn: string, message: { tag: string; relation?: { name: string }; new?: unknown }) => {
          if (message.tag === 'insert' && message.relation?.name === table) inserted.push(message.new);
        });
        service.on('error', () => undefined);
        // The stream runs until stop(); a failure before that (slot busy, connection refused) ends the wait.
        let streamFailure: Error | undefined;
        void service
          .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [table] }), table, slot.rows[0]?.lsn ?? '0/0')
          .catch((error: unknown) => (streamFailure = new WaitAbandoned('the replication stream failed', { cause: error })));

        await client.query(`insert into ${table} values (1, 'SKU-${shard.id}')`);

        await waitFor('the insert on the replication stream', () => {
          if (streamFailure) throw streamFailure;
          return inserted.length > 0;
        });
        expect(inserted).toEqual([{ id: 1, sku: `SKU-${shard.id}` }]);
      } finally {
        await service.stop();
        await waitFor('the slot to be released', async () => {
          const active = await client.query<{ active: boolean }>(`select active from pg_replication_slots where slot_name = $1`, [table]);
          return active.rows[0]?.active === false;
        });
        await client.query(`select pg_drop_replication_slot($1)`, [table]);
        await client.query(`drop publication ${table}`);
        await client.query(`drop table ${table}`);
        await client.end();
      }
    },
  );

  it('every shard runs with wal_level=logical', async () => {
    const levels = await Promise.all(
      endpoints.shards.map(async (shard) => {
        const client = new Client({ connectionString: shard.url });
        await client.connect();
        const result = await client.query<{ wal_level: string }>('show wal_level');
        await client.end();
        return result.rows[0]?.wal_level;
      }),
    );
    expect(levels).toEqual(endpoints.shards.map(() => 'logical'));
  });

  it('Redis runs a Lua script atomically', async () => {
    const redis = new Redis(endpoints.redisUrl);
    const key = `{${uniqueName('lua')}}:stock`;
    try {
      const script = `redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[1], ARGV[2])`;
      expect(await redis.eval(script, 1, key, '40', '2')).toBe(42);
      expect(await redis.get(key)).toBe('42');
    } finally {
      await redis.del(key);
      redis.disconnect();
    }
  });
});
