import { parseFleetArgs, parseWorkerList, UsageError } from './cli-args';

const parse = (line: string, env: Record<string, string> = {}) => parseFleetArgs(line.split(' ').filter(Boolean), env);

describe('parseFleetArgs', () => {
  it.each([
    ['status', { kind: 'status' }],
    ['slots drop --shard 1', { kind: 'slots-drop', shard: 1, force: false }],
    ['slots reset --shard 0 --force', { kind: 'slots-reset', shard: 0, force: true }],
    ['dlq list', { kind: 'dlq-list', sink: undefined, limit: 20 }],
    ['dlq list --sink wms-adapter --limit 5', { kind: 'dlq-list', sink: 'wms-adapter', limit: 5 }],
    ['dlq replay --sink erp-adapter --all', { kind: 'dlq-replay', sink: 'erp-adapter', target: { kind: 'all' } }],
    [
      'dlq replay --sink erp-adapter --offset 12 --partition 2',
      { kind: 'dlq-replay', sink: 'erp-adapter', target: { kind: 'offset', partition: 2, offset: 12n } },
    ],
    ['rebuild redis', { kind: 'rebuild-redis', workerConfig: undefined }],
    ['rebuild redis --worker-config cache.yaml', { kind: 'rebuild-redis', workerConfig: 'cache.yaml' }],
    ['snapshot inventory.stock', { kind: 'snapshot', table: 'inventory.stock', shard: undefined }],
    ['snapshot inventory.stock --shard 3', { kind: 'snapshot', table: 'inventory.stock', shard: 3 }],
    ['reconcile', { kind: 'reconcile', sink: undefined }],
    ['reconcile --sink redis-cache --json', { kind: 'reconcile', sink: 'redis-cache' }],
    ['', { kind: 'help' }],
    ['status --help', { kind: 'help' }],
  ])('reads "%s"', (line, command) => {
    expect(parse(line).command).toEqual(command);
  });

  it.each([
    ['bogus', /unknown command bogus/],
    ['status --frobnicate', /frobnicate/],
    ['status extra', /unexpected argument extra/],
    ['status --shard 1', /unexpected option --shard/],
    ['slots', /expected drop or reset/],
    ['slots drop', /--shard is required/],
    ['slots drop --shard -1', /--shard/],
    ['slots drop --shard x', /expected an integer/],
    ['dlq replay --all', /--sink is required/],
    ['dlq replay --sink s', /exactly one of --offset O or --all/],
    ['dlq replay --sink s --all --offset 3', /exactly one of --offset O or --all/],
    ['dlq replay --sink s --all --partition 1', /--partition goes with --offset/],
    ['dlq list --limit 0', /--limit/],
    ['rebuild postgres', /expected redis/],
    ['snapshot', /schema\.table/],
    ['snapshot Inventory.Stock', /not a lower-case schema\.table/],
    ['snapshot inventory.stock --force', /unexpected option --force/],
    ['reconcile --shard 1', /unexpected option --shard/],
    ['reconcile redis', /unexpected argument redis/],
  ])('refuses "%s" as a usage error', (line, message) => {
    expect(() => parse(line)).toThrow(UsageError);
    expect(() => parse(line)).toThrow(message);
  });

  it('takes the config file from --config, else from FLEET_CONFIG_FILE, and reads the global flags', () => {
    expect(parse('status --config a.yaml --json', { FLEET_CONFIG_FILE: 'b.yaml' }).options).toEqual({
      configFile: 'a.yaml',
      json: true,
      verbose: false,
      workers: undefined,
    });
    expect(parse('status --verbose', { FLEET_CONFIG_FILE: 'b.yaml' }).options).toMatchObject({
      configFile: 'b.yaml',
      json: false,
      verbose: true,
    });
  });
});

describe('parseWorkerList', () => {
  it('reads name=url pairs, keeps repeated names (leader and standby) and drops trailing slashes', () => {
    expect(
      parseWorkerList('wal-reader-0=http://127.0.0.1:19100/, wal-reader-0=http://127.0.0.1:19101,redis-cache=http://cache:9464'),
    ).toEqual([
      { name: 'wal-reader-0', url: 'http://127.0.0.1:19100' },
      { name: 'wal-reader-0', url: 'http://127.0.0.1:19101' },
      { name: 'redis-cache', url: 'http://cache:9464' },
    ]);
  });

  it.each(['http://127.0.0.1:19100', 'reader=127.0.0.1:19100', '=http://x:1'])('refuses "%s"', (text) => {
    expect(() => parseWorkerList(text)).toThrow(UsageError);
  });
});
