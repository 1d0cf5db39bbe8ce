import YAML from 'yaml';
import { prometheusConfig, projectRuleFiles } from './local-prometheus';

describe('prometheusConfig', () => {
  it('scrapes each worker kind as the compose config’s job, readers with their shard label, with the rules loaded', () => {
    const config = YAML.parse(
      prometheusConfig(
        [
          { job: 'wal-reader', url: 'http://127.0.0.1:19100', labels: { shard: '0' } },
          { job: 'wal-reader', url: 'http://127.0.0.1:19101', labels: { shard: '1' } },
          { job: 'redis-cache', url: 'http://127.0.0.1:19120' },
        ],
        ['/rules/a.yml'],
        1,
      ),
    ) as Record<string, unknown>;
    expect(config).toEqual({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ['/rules/a.yml'],
      scrape_configs: [
        {
          job_name: 'wal-reader',
          honor_labels: true,
          static_configs: [
            { targets: ['127.0.0.1:19100'], labels: { shard: '0' } },
            { targets: ['127.0.0.1:19101'], labels: { shard: '1' } },
          ],
        },
        { job_name: 'redis-cache', static_configs: [{ targets: ['127.0.0.1:19120'] }] },
      ],
    });
  });

  it('loads every rule file of deploy/prometheus/rules', () => {
    expect(
      projectRuleFiles()
        .map((file) => file.split('/').pop())
        .sort(),
    ).toEqual(['fleet-alerts.yml', 'reader-alerts.yml', 'reconcile-alerts.yml', 'sink-alerts.yml']);
  });
});
