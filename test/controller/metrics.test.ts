// The operator's /metrics text as Prometheus reads it: every line is checked against the
// exposition format (HELP, TYPE, then samples), and values are read back from the text, not
// from the objects that produced it.
import test from 'ava';
import { PHASES } from '../../operator/api/schema.ts';
import { experimentFigures, METRIC, OperatorMetrics } from '../../operator/controller/metrics.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the text exposition format 0.0.4: throws on any line it cannot read. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help.set(m[1] as string, m[2] as string);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      types.set(m[1] as string, m[2] as string);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const name = m[1] as string;
    if (!types.has(name)) throw new Error(`sample before its TYPE line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)",?/y;
    let pos = 0;
    while (pos < body.length) {
      label.lastIndex = pos;
      const l = label.exec(body);
      if (!l) throw new Error(`bad labels in ${line}`);
      labels[l[1] as string] = (l[2] as string).replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      pos = label.lastIndex;
    }
    samples.push({ name, labels, value: Number(m[3]) });
  }
  return { samples, types, help };
}

function sampleOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)?.value;
}

function operatorMetrics(over: Partial<ConstructorParameters<typeof OperatorMetrics>[0]> = {}) {
  return new OperatorMetrics({
    phases: PHASES,
    experimentPhases: () => ['Running', 'Running', undefined, 'Succeeded'],
    leading: () => true,
    queueDepth: () => 3,
    ...over,
  });
}

test('every metric keeps its name and kind, with HELP and TYPE lines, in a parseable exposition', async (t) => {
  const m = operatorMetrics();
  m.reconciled('success');
  m.reconcileError('Conflict');
  m.watchError('pods');
  m.resultReceived();
  const { samples, types, help } = parseExposition(await m.render());
  t.deepEqual(Object.fromEntries(types), {
    [METRIC.reconciles]: 'counter',
    [METRIC.reconcileErrors]: 'counter',
    [METRIC.watchErrors]: 'counter',
    [METRIC.resultsReceived]: 'counter',
    [METRIC.experiments]: 'gauge',
    [METRIC.leader]: 'gauge',
    [METRIC.workqueueDepth]: 'gauge',
    [METRIC.capacity]: 'gauge',
    [METRIC.p99]: 'gauge',
    [METRIC.lastCompletion]: 'gauge',
    [METRIC.regressed]: 'gauge',
  });
  for (const name of types.keys()) t.true((help.get(name) ?? '').length > 10, `${name} has a HELP text`);
  t.is(sampleOf(samples, 'conclab_reconciles_total', { result: 'success' }), 1);
  t.is(sampleOf(samples, 'conclab_reconcile_errors_total', { type: 'Conflict' }), 1);
  t.is(sampleOf(samples, 'conclab_watch_errors_total', { resource: 'pods' }), 1);
  t.is(sampleOf(samples, 'conclab_results_received_total'), 1);
  t.is(m.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('counters count per label set', async (t) => {
  const m = operatorMetrics();
  m.reconcileError('Conflict');
  m.reconcileError('Conflict');
  m.reconcileError('Forbidden');
  const { samples } = parseExposition(await m.render());
  t.is(sampleOf(samples, 'conclab_reconcile_errors_total', { type: 'Conflict' }), 2);
  t.is(sampleOf(samples, 'conclab_reconcile_errors_total', { type: 'Forbidden' }), 1);
  t.is(await m.value('conclab_reconcile_errors_total', { type: 'Conflict' }), 2);
  t.is(await m.value('conclab_reconcile_errors_total', { type: 'NotFound' }), 0, 'never incremented reads as 0');
});

test('scrape-time gauges read their sources at each scrape: experiments by phase (every phase shown), leader, queue depth', async (t) => {
  let depth = 3;
  let leading = true;
  const m = operatorMetrics({ queueDepth: () => depth, leading: () => leading });
  let { samples } = parseExposition(await m.render());
  t.is(sampleOf(samples, 'conclab_experiments', { phase: 'Running' }), 2);
  t.is(sampleOf(samples, 'conclab_experiments', { phase: 'Pending' }), 1, 'no phase written yet counts as Pending');
  t.is(sampleOf(samples, 'conclab_experiments', { phase: 'Succeeded' }), 1);
  t.is(sampleOf(samples, 'conclab_experiments', { phase: 'Failed' }), 0, 'a phase with no experiment shows 0');
  t.is(samples.filter((s) => s.name === 'conclab_experiments').length, PHASES.length);
  t.is(sampleOf(samples, 'conclab_leader'), 1);
  t.is(sampleOf(samples, 'conclab_workqueue_depth'), 3);
  depth = 0;
  leading = false;
  ({ samples } = parseExposition(await m.render()));
  t.is(sampleOf(samples, 'conclab_workqueue_depth'), 0);
  t.is(sampleOf(samples, 'conclab_leader'), 0);
});

test('a failing source costs its own samples, never the scrape', async (t) => {
  const m = operatorMetrics({
    experimentPhases: () => {
      throw new Error('FAKE: cache gone');
    },
  });
  m.reconciled('error');
  const { samples, types } = parseExposition(await m.render());
  t.is(types.get('conclab_experiments'), 'gauge');
  t.is(samples.filter((s) => s.name === 'conclab_experiments').length, 0);
  t.is(sampleOf(samples, 'conclab_reconciles_total', { result: 'error' }), 1);
});

test('label values with quotes, backslashes and newlines stay readable', async (t) => {
  const m = operatorMetrics();
  m.watchError('say "hi"\\\n');
  const { samples } = parseExposition(await m.render());
  t.is(sampleOf(samples, 'conclab_watch_errors_total', { resource: 'say "hi"\\\n' }), 1);
});

test('two operators in one process keep separate registries', async (t) => {
  const a = operatorMetrics();
  const b = operatorMetrics();
  a.reconciled('success');
  a.recordExperiment({ namespace: 'ns', experiment: 'x', variants: [{ variant: 'v', p99Seconds: 0.01 }] });
  const fromB = parseExposition(await b.render()).samples;
  t.is(sampleOf(fromB, 'conclab_reconciles_total', { result: 'success' }), undefined);
  t.is(fromB.filter((s) => s.name.startsWith('conclab_experiment_')).length, 0);
  t.is(sampleOf(parseExposition(await a.render()).samples, 'conclab_reconciles_total', { result: 'success' }), 1);
});

test('the last run of an experiment: capacity and p99 per variant, completion time, regression state', async (t) => {
  const m = operatorMetrics();
  m.recordExperiment({
    namespace: 'team-a',
    experiment: 'hourly',
    completionTimeSeconds: 1_764_619_200,
    regressed: true,
    variants: [
      { variant: 'procs', capacityRequestsPerSecond: 1840.5, p99Seconds: 0.012 },
      { variant: 'threads', capacityRequestsPerSecond: 1210, p99Seconds: 0.031 },
    ],
  });
  const { samples } = parseExposition(await m.render());
  const v = (variant: string) => ({ namespace: 'team-a', experiment: 'hourly', variant });
  const e = { namespace: 'team-a', experiment: 'hourly' };
  t.is(sampleOf(samples, METRIC.capacity, v('procs')), 1840.5);
  t.is(sampleOf(samples, METRIC.capacity, v('threads')), 1210);
  t.is(sampleOf(samples, METRIC.p99, v('procs')), 0.012);
  t.is(sampleOf(samples, METRIC.p99, v('threads')), 0.031);
  t.is(sampleOf(samples, METRIC.lastCompletion, e), 1_764_619_200);
  t.is(sampleOf(samples, METRIC.regressed, e), 1);
});

test('a new run replaces the figures: a variant gone or a figure not measured has no series, never a zero', async (t) => {
  const m = operatorMetrics();
  const base = { namespace: 'ns', experiment: 'x' };
  m.recordExperiment({
    ...base,
    completionTimeSeconds: 100,
    regressed: true,
    variants: [
      { variant: 'a', capacityRequestsPerSecond: 10, p99Seconds: 0.1 },
      { variant: 'b', capacityRequestsPerSecond: 20, p99Seconds: 0.2 },
    ],
  });
  m.recordExperiment({ ...base, completionTimeSeconds: 200, variants: [{ variant: 'a', p99Seconds: Number.NaN }] });
  const { samples } = parseExposition(await m.render());
  t.deepEqual(
    samples.filter((s) => s.name.startsWith('conclab_experiment_')),
    [{ name: METRIC.lastCompletion, labels: base, value: 200 }],
    'b is gone, a measured nothing usable, regression not assessed this time',
  );
});

test('deleting an experiment removes its series and leaves the others', async (t) => {
  const m = operatorMetrics();
  for (const experiment of ['gone', 'kept']) {
    m.recordExperiment({
      namespace: 'ns',
      experiment,
      completionTimeSeconds: 1,
      regressed: false,
      variants: [{ variant: 'v', capacityRequestsPerSecond: 5, p99Seconds: 0.5 }],
    });
  }
  m.forgetExperiment('ns', 'gone');
  m.forgetExperiment('ns', 'never-seen');
  const left = parseExposition(await m.render()).samples.filter((s) => s.name.startsWith('conclab_experiment_'));
  t.is(left.length, 4);
  t.true(left.every((s) => s.labels.experiment === 'kept'));
  t.is(sampleOf(left, METRIC.regressed, { namespace: 'ns', experiment: 'kept' }), 0);
});

test('experimentFigures reads the last finished run from status: capacity only from a search, p99 in seconds', (t) => {
  const cx = {
    metadata: { name: 'hourly', namespace: 'team-a' },
    status: {
      completionTime: '2026-12-01T20:00:00Z',
      history: [{ startTime: '2026-12-01T22:00:00Z', completionTime: '2026-12-01T22:05:00Z', phase: 'Succeeded' }],
      results: [
        { name: 'procs', throughput: 900, capacity: 1840, p50Millis: 3, p99Millis: 12, errorRate: 0 },
        { name: 'threads', throughput: 800, p50Millis: 4, p99Millis: 31, errorRate: 0 },
      ],
    },
  } as unknown as Parameters<typeof experimentFigures>[0];
  t.deepEqual(experimentFigures(cx, false), {
    namespace: 'team-a',
    experiment: 'hourly',
    completionTimeSeconds: Date.parse('2026-12-01T22:05:00Z') / 1000,
    regressed: false,
    variants: [
      { variant: 'procs', capacityRequestsPerSecond: 1840, p99Seconds: 0.012 },
      { variant: 'threads', p99Seconds: 0.031 },
    ],
  });
  t.is(experimentFigures({ metadata: { name: 'new' } } as Parameters<typeof experimentFigures>[0]), undefined);
});
