// The chart's monitoring extras, rendered by the real helm: the Grafana dashboard ConfigMap,
// the PrometheusRule and the ServiceMonitor are off by default, lint clean with --strict when
// on, and every query and alert uses only series the operator exposes (operator/controller/
// metrics.ts), with the labels those series carry. A renamed metric fails here, not on a
// user's empty dashboard.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { METRIC } from '../../operator/controller/metrics.ts';
import { requireClusterBinaries } from '../cluster/binaries.ts';
import { ROOT } from './helpers.ts';

const run = promisify(execFile);
const CHART = join(ROOT, 'charts', 'conclab');
const ALL_ON = [
  '--set',
  'metrics.dashboard.enabled=true',
  '--set',
  'metrics.prometheusRule.enabled=true',
  '--set',
  'metrics.serviceMonitor.enabled=true',
];

/** The labels each series carries (besides the target labels a scrape adds: job, namespace, pod...). */
const LABELS: Record<string, string[]> = {
  [METRIC.reconciles]: ['result'],
  [METRIC.reconcileErrors]: ['type'],
  [METRIC.watchErrors]: ['resource'],
  [METRIC.resultsReceived]: [],
  [METRIC.experiments]: ['phase'],
  [METRIC.leader]: [],
  [METRIC.workqueueDepth]: [],
  [METRIC.capacity]: ['namespace', 'experiment', 'variant'],
  [METRIC.p99]: ['namespace', 'experiment', 'variant'],
  [METRIC.lastCompletion]: ['namespace', 'experiment'],
  [METRIC.regressed]: ['namespace', 'experiment'],
};
const TARGET_LABELS = ['job', 'namespace', 'pod', 'instance', 'service'];

async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(requireClusterBinaries(['helm']).helm, args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

type Doc = { kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; [k: string]: unknown };

async function render(extra: string[] = []): Promise<Doc[]> {
  const text = await helm(['template', 'conclab', CHART, '--namespace', 'conclab-system', ...extra]);
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
}

/** Problems with one PromQL expression: unknown conclab series, or a grouping label a series lacks. */
function queryProblems(expr: string): string[] {
  const problems: string[] = [];
  const names = [...expr.matchAll(/\b(conclab_[a-z0-9_]+)\b/g)].map((m) => m[1] as string);
  if (names.length === 0 && !/\bup\b/.test(expr)) problems.push(`${expr}: no conclab series`);
  const known = new Set<string>(Object.values(METRIC));
  for (const n of names) if (!known.has(n)) problems.push(`${expr}: ${n} is not a metric the operator exposes`);
  const allowed = new Set([...names.flatMap((n) => LABELS[n] ?? []), ...TARGET_LABELS]);
  for (const m of expr.matchAll(/\bby \(([^)]*)\)/g)) {
    for (const label of (m[1] as string).split(',').map((l) => l.trim())) {
      if (!allowed.has(label)) problems.push(`${expr}: groups by ${label}, which ${names.join(', ')} do not carry`);
    }
  }
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const matcher of (m[1] as string).split(',').filter((x) => x.trim())) {
      const label = matcher.trim().split(/\s*(=~|!~|!=|=)/)[0] as string;
      if (!allowed.has(label)) problems.push(`${expr}: selects on ${label}, which ${names.join(', ')} do not carry`);
    }
  }
  let depth = 0;
  for (const c of expr.replace(/"[^"]*"/g, '')) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    if (depth < 0) break;
  }
  if (depth !== 0) problems.push(`${expr}: unbalanced parentheses`);
  return problems;
}

test('off by default: no dashboard, rule or monitor is rendered', async (t) => {
  const kinds = (await render()).map((d) => `${d.kind}/${d.metadata?.name}`);
  t.false(kinds.includes('ConfigMap/conclab-dashboard'));
  t.false(
    kinds.some((k) => k.startsWith('PrometheusRule/') || k.startsWith('ServiceMonitor/')),
    kinds.join(' '),
  );
});

test('helm lint --strict passes with every metrics extra on', async (t) => {
  t.regex(await helm(['lint', '--strict', CHART, ...ALL_ON]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('the dashboard ConfigMap carries the grafana_dashboard=1 label and the dashboard file as it is', async (t) => {
  const docs = await render([...ALL_ON, '--set', 'metrics.dashboard.annotations.grafana_folder=Platform']);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'conclab-dashboard') as
    | (Doc & { data: Record<string, string>; metadata: { annotations?: Record<string, string> } })
    | undefined;
  if (!cm) return t.fail('no dashboard ConfigMap');
  t.is(cm.metadata.labels?.grafana_dashboard, '1');
  t.is(cm.metadata.annotations?.grafana_folder, 'Platform');
  const file = readFileSync(join(CHART, 'dashboards', 'conclab.json'), 'utf8');
  t.deepEqual(JSON.parse(cm.data['conclab.json'] ?? ''), JSON.parse(file));
  t.true(Buffer.byteLength(JSON.stringify(cm)) < 1024 * 1024, 'fits a ConfigMap');
});

test('every dashboard query uses series the operator exposes, with their labels, and each metric has a panel', (t) => {
  const dashboard = JSON.parse(readFileSync(join(CHART, 'dashboards', 'conclab.json'), 'utf8')) as {
    uid: string;
    panels: { title: string; type: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
  };
  t.is(dashboard.uid, 'conclab-operator', 'a stable uid: links and provisioning survive updates');
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));
  const variables = dashboard.templating.list.flatMap((v) =>
    v.type === 'query' ? [typeof v.query === 'string' ? v.query : (v.query?.query ?? '')] : [],
  );
  t.deepEqual(
    [...exprs, ...variables.map((q) => q.replace(/^label_values\((.*), *([a-z_]+)\)$/, 'max by ($2) ($1)'))].flatMap(
      queryProblems,
    ),
    [],
  );
  for (const name of Object.values(METRIC))
    t.true(
      exprs.some((e) => e.includes(name)),
      `a panel shows ${name}`,
    );
  t.true(
    dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'),
    'the Prometheus data source is chosen on import, not hard-wired',
  );
});

test('the PrometheusRule alerts on the regression gauge and on no replica up and leading', async (t) => {
  const docs = await render([...ALL_ON, '--set', 'metrics.prometheusRule.labels.release=kube-prometheus-stack']);
  const rule = docs.find((d) => d.kind === 'PrometheusRule') as
    | (Doc & {
        spec: {
          groups: { rules: { alert: string; expr: string; for: string; annotations: Record<string, string> }[] }[];
        };
      })
    | undefined;
  if (!rule) return t.fail('no PrometheusRule');
  t.is(rule.metadata?.labels?.release, 'kube-prometheus-stack');
  const rules = rule.spec.groups.flatMap((g) => g.rules);
  t.deepEqual(
    rules.map((r) => r.alert),
    ['ConclabExperimentRegressed', 'ConclabOperatorDown'],
  );
  t.deepEqual(
    rules.flatMap((r) => queryProblems(r.expr)),
    [],
  );
  const [regressed, down] = rules;
  t.true(regressed?.expr.includes(METRIC.regressed));
  t.regex(regressed?.annotations.summary ?? '', /\{\{ \$labels\.namespace \}\}\/\{\{ \$labels\.experiment \}\}/);
  t.true(down?.expr.includes(METRIC.leader) && down.expr.includes('up{job="conclab", namespace="conclab-system"}'));
  t.is(down?.for, '5m');

  const custom = await render([...ALL_ON, '--set', 'metrics.prometheusRule.operatorSelector=job="ops"']);
  const customDown = (custom.find((d) => d.kind === 'PrometheusRule') as typeof rule).spec.groups[0]?.rules[1];
  t.is(customDown?.expr, 'absent(up{job="ops"} == 1) or max(conclab_leader{job="ops"}) < 1');
});

test('the ServiceMonitor scrapes /metrics on the Service port and keeps the experiments’ namespace label', async (t) => {
  const docs = await render(ALL_ON);
  const monitor = docs.find((d) => d.kind === 'ServiceMonitor') as
    | (Doc & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: Record<string, unknown>[] } })
    | undefined;
  const service = docs.find((d) => d.kind === 'Service') as (Doc & { spec: { ports: { name: string }[] } }) | undefined;
  if (!monitor || !service) return t.fail('no ServiceMonitor or Service');
  t.like(monitor.spec.endpoints[0], { port: 'http', path: '/metrics', honorLabels: true });
  t.true(service.spec.ports.some((p) => p.name === 'http'));
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) t.is(service.metadata?.labels?.[k], v);
});

test('a bad metrics value is refused by the values schema, naming the key', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--set', 'metrics.prometheusRule.operatorDownFor=soon'], /operatorDownFor/],
    [['--set', 'metrics.dashbord.enabled=true'], /dashbord/],
    [['--set', 'metrics.prometheusRule.operatorSelector=conclab'], /operatorSelector/],
  ];
  for (const [args, message] of cases) {
    const err = await t.throwsAsync(render(args));
    t.regex(String((err as { stderr?: string })?.stderr ?? err?.message), message);
  }
});

test('the query check itself catches a renamed metric, a label a series lacks and a missing parenthesis', (t) => {
  t.deepEqual(queryProblems('sum by (result) (rate(conclab_reconciles_total[5m]))'), []);
  t.regex(queryProblems('conclab_reconcile_total').join(), /not a metric the operator exposes/);
  t.regex(queryProblems('sum by (variant) (conclab_reconciles_total)').join(), /groups by variant/);
  t.regex(queryProblems('conclab_leader{experiment="x"}').join(), /selects on experiment/);
  t.regex(queryProblems('max(conclab_leader').join(), /unbalanced/);
});
