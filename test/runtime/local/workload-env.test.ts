// operator/runtime/workload-env.ts (shared with the kube runtime) is owned with the local runtime,
// so its tests live here.
import test from 'ava';
import { workloadEnv } from '../../../operator/runtime/workload-env.ts';
import { experiment, launchOf } from './fixtures.ts';

test('maps a variant and the workload to the CONCLAB_* environment', (t) => {
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
    CONCLAB_TRACING: 'false',
    CONCLAB_TRACE_SAMPLE_RATIO: '0.1',
  });
});

test('tracing is on with an endpoint unless the experiment turns it off', (t) => {
  const exp = experiment('traced');
  const launch = { ...launchOf(exp, 0), otlpEndpoint: 'http://127.0.0.1:4318' };
  t.like(workloadEnv(launch), {
    CONCLAB_TRACING: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
  });
  exp.spec.tracing = { enabled: true, sampleRatio: 0.5 };
  t.is(workloadEnv(launch)['CONCLAB_TRACE_SAMPLE_RATIO'], '0.5');
  exp.spec.tracing = { enabled: false, sampleRatio: 0.5 };
  const off = workloadEnv(launch);
  t.is(off['CONCLAB_TRACING'], 'false');
  t.false('OTEL_EXPORTER_OTLP_ENDPOINT' in off);
});

test('extraEnv (the fault schedule) comes last', (t) => {
  const env = workloadEnv(launchOf(experiment('f'), 0, 1, { CONCLAB_FAULT_KIND: 'abort', CONCLAB_WORKERS: '9' }));
  t.is(env['CONCLAB_FAULT_KIND'], 'abort');
  t.is(env['CONCLAB_WORKERS'], '9');
});

test('a bad duration names the field', (t) => {
  const exp = experiment('bad');
  exp.spec.workload.cpuTime = 'five';
  t.throws(() => workloadEnv(launchOf(exp, 0)), { message: /^spec.workload.cpuTime: "five" is not a duration/ });
});
