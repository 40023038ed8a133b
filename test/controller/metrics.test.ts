import test from 'ava';
import { Metrics } from '../../operator/controller/metrics.ts';

test('renders counters and gauges in the Prometheus text format with HELP, TYPE and sorted labels', (t) => {
  const m = new Metrics();
  const errors = m.counter('conclab_reconcile_errors_total', 'Reconcile errors, by error type.');
  errors({ type: 'Conflict' });
  errors({ type: 'Conflict' });
  errors({ type: 'Forbidden' }, 3);
  m.gauge('conclab_experiments', 'Experiments by phase.', () => [
    { labels: { phase: 'Running' }, value: 2 },
    { labels: { phase: 'Failed' }, value: 0 },
  ]);
  t.is(
    m.render(),
    [
      '# HELP conclab_reconcile_errors_total Reconcile errors, by error type.',
      '# TYPE conclab_reconcile_errors_total counter',
      'conclab_reconcile_errors_total{type="Conflict"} 2',
      'conclab_reconcile_errors_total{type="Forbidden"} 3',
      '# HELP conclab_experiments Experiments by phase.',
      '# TYPE conclab_experiments gauge',
      'conclab_experiments{phase="Running"} 2',
      'conclab_experiments{phase="Failed"} 0',
      '',
    ].join('\n'),
  );
  t.is(m.value('conclab_reconcile_errors_total', { type: 'Conflict' }), 2);
  t.is(m.value('conclab_experiments', { phase: 'Running' }), 2);
});

test('escapes label values and survives a failing gauge', (t) => {
  const m = new Metrics();
  m.counter('x_total', 'x')({ b: 'say "hi"\\n', a: '1' });
  m.gauge('broken', 'throws', () => {
    throw new Error('boom');
  });
  const text = m.render();
  t.true(text.includes('x_total{a="1",b="say \\"hi\\"\\\\n"} 1'), text);
  t.true(text.includes('# TYPE broken gauge'));
});

test('a metric defined twice is a bug caught at once', (t) => {
  const m = new Metrics();
  m.counter('a_total', 'a');
  t.throws(() => m.counter('a_total', 'a'), { message: /defined twice/ });
});
