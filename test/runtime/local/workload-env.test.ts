// operator/runtime/workload-env.ts (shared with the kube runtime) is tested here, next to the
// local runtime that uses it. Tracing goes only through the standard OTEL_* variables.
import test from 'ava';
import { OWNED_OTEL_VARIABLES, workloadEnv } from '../../../operator/runtime/workload-env.ts';
import { experiment, launchOf } from './fixtures.ts';

const tracing = { tracesEndpoint: 'http://127.0.0.1:4318/v1/traces', token: 'tok-123' };

test('maps a variant and the workload to the CONCLAB_* environment, tracing off without a target', (t) => {
  const exp = experiment('quick');
  exp.spec.workload.cpuTime = '1.5ms';
  exp.spec.workload.ioWait = '2s';
  exp.spec.workload.replaceWorkers = false;
  t.deepEqual(workloadEnv(launchOf(exp, 1, 3)), {
    CONCLAB_MODEL: 'thread',
    CONCLAB_WORKERS: '2',
    CONCLAB_HOST: '127.0.0.1',
    CONCLAB_PORT: '0',
    CONCLAB_ADMIN_PORT: '0',
    CONCLAB_PROFILE: 'cpu',
    CONCLAB_CPU_MILLIS: '1.5',
    CONCLAB_IO_MILLIS: '2000',
    CONCLAB_RESPONSE_BYTES: '256',
    CONCLAB_REPLACE_WORKERS: 'false',
    CONCLAB_RACY: 'false',
    CONCLAB_EXPERIMENT: 'quick',
    CONCLAB_VARIANT: 'threads',
    CONCLAB_TRIAL: '3',
    OTEL_SDK_DISABLED: 'true',
  });
});

test('with a tracing target, the standard OTEL_* variables carry endpoint, token, sampler and conclab ids', (t) => {
  const exp = experiment('traced');
  exp.spec.tracing = { enabled: true, sampleRatio: 0.5 };
  const env = workloadEnv({ ...launchOf(exp, 0, 2), run: 'r9', tracing }, { replica: 1 });
  t.like(env, {
    OTEL_SERVICE_NAME: 'conclab-traced-processes',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.5',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: tracing.tracesEndpoint,
    // Percent-encoded, as the OpenTelemetry spec wants values in this variable.
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer%20tok-123',
    CONCLAB_RUN: 'r9',
    CONCLAB_REPLICA: '1',
  });
  t.false('OTEL_SDK_DISABLED' in env);
  t.is(
    env['OTEL_RESOURCE_ATTRIBUTES'],
    'conclab.experiment=traced,conclab.variant=processes,conclab.trial=2,conclab.model=process,conclab.run=r9,conclab.replica=1',
  );
  // Every variable conclab sets is one it owns (so the local runtime does not pass the user's own through).
  for (const k of Object.keys(env).filter((k) => k.startsWith('OTEL_')))
    t.true((OWNED_OTEL_VARIABLES as readonly string[]).includes(k), k);
});

test("the user's service name and resource attributes are honoured; conclab's ids come last and are escaped", (t) => {
  const exp = experiment('odd');
  exp.spec.variants[0]!.name = 'a=b,c';
  const env = workloadEnv(
    { ...launchOf(exp, 0), tracing },
    { userEnv: { OTEL_SERVICE_NAME: 'checkout', OTEL_RESOURCE_ATTRIBUTES: ' team=payments,conclab.trial=99 ' } },
  );
  t.is(env['OTEL_SERVICE_NAME'], 'checkout');
  t.is(
    env['OTEL_RESOURCE_ATTRIBUTES'],
    'team=payments,conclab.trial=99,conclab.experiment=odd,conclab.variant=a%3Db%2Cc,conclab.trial=1,conclab.model=process',
  );
});

test('an experiment with tracing off stays untraced even with a target', (t) => {
  const exp = experiment('off');
  exp.spec.tracing = { enabled: false, sampleRatio: 1 };
  const env = workloadEnv({ ...launchOf(exp, 0), tracing });
  t.is(env['OTEL_SDK_DISABLED'], 'true');
  t.false('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' in env);
  t.false('OTEL_EXPORTER_OTLP_TRACES_HEADERS' in env, 'the token is not handed out');
});

test('a bad duration names the field', (t) => {
  const exp = experiment('bad');
  exp.spec.workload.cpuTime = 'five';
  t.throws(() => workloadEnv(launchOf(exp, 0)), { message: /^spec.workload.cpuTime: "five" is not a duration/ });
});
