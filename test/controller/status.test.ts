import test from 'ava';
import type { ConcurrencyExperiment } from '../../operator/api/schema.ts';
import { ControllerError, ErrorKind, kindForStatus, toControllerError } from '../../operator/controller/errors.ts';
import { buildStatus, statusDiffers } from '../../operator/controller/status.ts';

const cx = (status?: ConcurrencyExperiment['status'], generation = 2) =>
  ({ metadata: { name: 'e', generation }, ...(status ? { status } : {}) }) as ConcurrencyExperiment;
const T1 = new Date('2026-01-01T00:00:00.500Z');
const T2 = new Date('2026-01-01T00:05:00Z');

test('conditions per phase: Running progresses, Succeeded is Ready, Failed is Degraded with the reason', (t) => {
  const running = buildStatus(cx(), { phase: 'Running', reason: 'DeployingWorkload', message: 'm' }, T1);
  t.deepEqual(
    running.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      ['Ready', 'False', 'NotStarted'],
      ['Progressing', 'True', 'DeployingWorkload'],
      ['Degraded', 'False', 'DeployingWorkload'],
    ],
  );
  t.is(running.observedGeneration, 2);
  t.is(running.startTime, '2026-01-01T00:00:00Z');
  const failed = buildStatus(cx(running), { phase: 'Failed', reason: 'LoadFailed', message: 'variant a: x' }, T2);
  t.deepEqual(
    failed.conditions?.find((c) => c.type === 'Degraded'),
    {
      type: 'Degraded',
      status: 'True',
      reason: 'LoadFailed',
      message: 'variant a: x',
      lastTransitionTime: '2026-01-01T00:05:00Z',
      observedGeneration: 2,
    },
  );
  t.is(failed.completionTime, '2026-01-01T00:05:00Z');
  t.is(failed.startTime, running.startTime, 'the run started when it started');
});

test('lastTransitionTime moves only when a condition changes status', (t) => {
  const a = buildStatus(cx(), { phase: 'Running', reason: 'DeployingWorkload', message: '1/2 ready' }, T1);
  const b = buildStatus(cx(a), { phase: 'Running', reason: 'RunningLoad', message: 'load' }, T2);
  const progressing = (s: typeof a) => s.conditions?.find((c) => c.type === 'Progressing');
  t.is(progressing(b)?.lastTransitionTime, progressing(a)?.lastTransitionTime);
  t.is(progressing(b)?.reason, 'RunningLoad');
  t.true(statusDiffers(a, b));
  t.false(statusDiffers(b, buildStatus(cx(b), { phase: 'Running', reason: 'RunningLoad', message: 'load' }, T2)));
});

const kinds: [number | undefined, ErrorKind][] = [
  [409, ErrorKind.Conflict],
  [404, ErrorKind.NotFound],
  [403, ErrorKind.Forbidden],
  [422, ErrorKind.ApiRejected],
  [429, ErrorKind.ApiUnavailable],
  [503, ErrorKind.ApiUnavailable],
  [undefined, ErrorKind.ApiUnavailable],
];
for (const [code, kind] of kinds) {
  test(`HTTP ${code ?? 'none'} is a ${kind} error`, (t) => {
    t.is(kindForStatus(code), kind);
  });
}

test('an ApiException keeps the API server’s message, and only InvalidSpec is terminal', (t) => {
  const e = toControllerError(
    { code: 422, body: JSON.stringify({ message: 'Pod "x" is invalid: spec.containers[0].image: Required value' }) },
    'apply pod ns/x',
  );
  t.is(e.kind, ErrorKind.ApiRejected);
  t.is(e.message, 'apply pod ns/x: Pod "x" is invalid: spec.containers[0].image: Required value');
  t.false(e.terminal);
  t.true(new ControllerError(ErrorKind.InvalidSpec, 'bad').terminal);
  t.is(toControllerError(new TypeError('oops'), 'x').kind, ErrorKind.Internal);
});
