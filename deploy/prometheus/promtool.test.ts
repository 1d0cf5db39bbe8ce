import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string }[] }[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const here = __dirname;
const ruleFiles = readdirSync(join(here, 'rules'))
  .filter((name) => name.endsWith('.yml'))
  .map((name) => join('rules', name));
const testFiles = readdirSync(join(here, 'tests'))
  .filter((name) => name.endsWith('.test.yml'))
  .map((name) => join('tests', name));

/** Runs promtool in this folder; fails with its whole output unless it exits 0. */
function promtool(...args: string[]): void {
  const result = spawnSync('promtool', args, { cwd: here, encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new Error('promtool not found: apt-get install prometheus (it ships promtool)');
  if (result.status !== 0) throw new Error(`promtool ${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`);
}

describe('Prometheus config and alert rules (promtool)', () => {
  it('has rule files and a unit test file for each', () => {
    expect(ruleFiles.length).toBeGreaterThan(0);
    const tested = testFiles.flatMap((file) => (YAML.parse(readFileSync(join(here, file), 'utf8')) as RuleTestFile).rule_files);
    expect(ruleFiles.filter((file) => !tested.includes(`../${file}`))).toEqual([]);
  });

  it('passes `promtool check config` (which loads the rule files too)', () => {
    promtool('check', 'config', 'prometheus.yml');
  });

  it('passes `promtool check rules`', () => {
    promtool('check', 'rules', ...ruleFiles);
  });

  it('passes `promtool test rules`', () => {
    promtool('test', 'rules', ...testFiles);
  });

  it('tests every alert firing at least once', () => {
    const alerts = ruleFiles.flatMap((file) =>
      (YAML.parse(readFileSync(join(here, file), 'utf8')) as RuleFile).groups.flatMap((group) =>
        group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])),
      ),
    );
    const firing = new Set(
      testFiles.flatMap((file) =>
        (YAML.parse(readFileSync(join(here, file), 'utf8')) as RuleTestFile).tests.flatMap((test) =>
          (test.alert_rule_test ?? []).filter((check) => (check.exp_alerts ?? []).length > 0).map((check) => check.alertname),
        ),
      ),
    );
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.filter((alert) => !firing.has(alert))).toEqual([]);
  });
});
