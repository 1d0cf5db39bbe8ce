import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { panelsOf, readDashboards } from '../observability-queries';

const datasource = { type: 'prometheus', uid: '${datasource}' };

/** Every `uid` below `value` with its JSON path. */
function uids(value: unknown, path = ''): { path: string; uid: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => uids(item, `${path}[${index}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) => [
    ...(key === 'uid' ? [{ path: `${path}.uid`, uid: item }] : []),
    ...uids(item, `${path}.${key}`),
  ]);
}

describe('Grafana dashboards', () => {
  const dashboards = readDashboards();

  it('are the fleet overview, flash sale and shard detail, each with its own uid', () => {
    expect(dashboards.map(({ file }) => file).sort()).toEqual(['flash-sale.json', 'fleet-overview.json', 'shard-detail.json']);
    expect(new Set(dashboards.map(({ dashboard }) => dashboard.uid)).size).toBe(dashboards.length);
  });

  it.each(readDashboards().map(({ file, dashboard }) => [file, dashboard] as const))(
    '%s picks its Prometheus by the `datasource` variable, never by a fixed uid',
    (_file, dashboard) => {
      const variables = dashboard.templating?.list ?? [];
      expect(variables).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
      const { uid: _own, ...rest } = dashboard;
      expect(uids(rest).filter(({ uid }) => uid !== datasource.uid)).toEqual([]);
    },
  );

  it.each(readDashboards().map(({ file, dashboard }) => [file, dashboard] as const))(
    '%s: every panel has a query against the datasource variable',
    (_file, dashboard) => {
      const panels = panelsOf(dashboard).filter((panel) => (panel as { type?: string }).type !== 'row');
      expect(panels.length).toBeGreaterThan(0);
      const problems = panels.flatMap((panel) => {
        const { datasource: panelSource } = panel as { datasource?: unknown };
        const targets = panel.targets ?? [];
        return [
          ...(JSON.stringify(panelSource) === JSON.stringify(datasource) ? [] : [`${panel.title}: panel datasource`]),
          ...(targets.length > 0 && targets.every((target) => target.expr) ? [] : [`${panel.title}: a target without expr`]),
          ...targets
            .filter((target) => JSON.stringify((target as { datasource?: unknown }).datasource) !== JSON.stringify(datasource))
            .map((target) => `${panel.title} ${target.refId}: target datasource`),
        ];
      });
      expect(problems).toEqual([]);
    },
  );

  it('are provisioned from the folder docker-compose.yml mounts them at', () => {
    const provisioning = YAML.parse(readFileSync(join(__dirname, 'provisioning', 'dashboards', 'cdc.yml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(provisioning.providers).toEqual([
      expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: '/etc/grafana/dashboards' }) }),
    ]);
  });
});
