import test from 'ava';
import { parseConfig } from '../../../workloads/node/config.ts';

test('defaults match the documented environment table', (t) => {
  const config = parseConfig({});
  t.like(config, {
    model: 'process',
    workers: 4,
    host: '127.0.0.1',
    port: 8080,
    adminPort: 8081,
    profile: 'cpu',
    cpuMillis: 5,
    ioMillis: 0,
    responseBytes: 256,
    replaceWorkers: true,
    racy: false,
    replica: undefined,
    run: '',
    ownCgroup: false,
    cgroupRoot: '/sys/fs/cgroup',
    fault: undefined,
    shutdownTimeoutMillis: 10_000,
    workerHeapMb: undefined,
    cpuIterationsPerMilli: undefined,
    warnings: [],
  });
  t.false(config.otel.enabled, 'no OTLP endpoint: no tracing');
});

test('the supervisor variables are read: replica, run, own cgroup and the cgroup root', (t) => {
  const config = parseConfig({
    CONCLAB_REPLICA: '2',
    CONCLAB_RUN: 'run-7',
    CONCLAB_OWN_CGROUP: 'true',
    CONCLAB_CGROUP_ROOT: '/tmp/FAKE',
  });
  t.like(config, { replica: 2, run: 'run-7', ownCgroup: true, cgroupRoot: '/tmp/FAKE' });
});

test('the removed tracing variables are ignored with a warning that names their replacement', (t) => {
  const config = parseConfig({ CONCLAB_TRACING: 'true', CONCLAB_TRACE_SAMPLE_RATIO: '0.5' });
  t.false(config.otel.enabled);
  t.is(config.warnings.length, 2);
  t.regex(config.warnings[0]!, /CONCLAB_TRACING is no longer read: .*OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/);
  t.regex(config.warnings[1]!, /CONCLAB_TRACE_SAMPLE_RATIO is no longer read: .*OTEL_TRACES_SAMPLER_ARG/);
});

test('a fault schedule is read from the environment', (t) => {
  const config = parseConfig({
    CONCLAB_WORKERS: '2',
    CONCLAB_FAULT_KIND: 'hang',
    CONCLAB_FAULT_AFTER_MILLIS: '1500',
    CONCLAB_FAULT_WORKER: '1',
  });
  t.deepEqual(config.fault, { kind: 'hang', afterMillis: 1500, worker: 1 });
});

const bad: Array<[string, Record<string, string>, RegExp]> = [
  [
    'unknown model',
    { CONCLAB_MODEL: 'fiber' },
    /CONCLAB_MODEL="fiber" is invalid: expected one of process, thread, offload/,
  ],
  ['zero workers', { CONCLAB_WORKERS: '0' }, /CONCLAB_WORKERS="0" is invalid: expected an integer from 1 to 256/],
  ['port out of range', { CONCLAB_PORT: '70000' }, /CONCLAB_PORT="70000" is invalid/],
  ['same port twice', { CONCLAB_PORT: '9000', CONCLAB_ADMIN_PORT: '9000' }, /both 9000; give them different ports/],
  ['negative replica', { CONCLAB_REPLICA: '-1' }, /CONCLAB_REPLICA="-1" is invalid: expected an integer/],
  ['own-cgroup typo', { CONCLAB_OWN_CGROUP: 'yes' }, /CONCLAB_OWN_CGROUP="yes" is invalid: expected true or false/],
  ['boolean typo', { CONCLAB_RACY: 'yes' }, /CONCLAB_RACY="yes" is invalid: expected true or false/],
  [
    'endpoint not a URL',
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' },
    /OTEL_EXPORTER_OTLP_ENDPOINT=.* is invalid/,
  ],
  [
    'fault worker out of range',
    { CONCLAB_WORKERS: '2', CONCLAB_FAULT_KIND: 'exit', CONCLAB_FAULT_WORKER: '2' },
    /indices 0 to 1/,
  ],
  [
    'unknown fault',
    { CONCLAB_FAULT_KIND: 'segv' },
    /CONCLAB_FAULT_KIND="segv" is invalid: expected one of exit, abort, throw, hang, leak/,
  ],
];

for (const [name, env, message] of bad) {
  test(`rejects ${name} with a message naming the variable`, (t) => {
    t.throws(() => parseConfig(env), { message });
  });
}

test('reports every bad variable at once', (t) => {
  const error = t.throws(() => parseConfig({ CONCLAB_MODEL: 'x', CONCLAB_PROFILE: 'y' }));
  t.regex(error.message, /CONCLAB_MODEL/);
  t.regex(error.message, /CONCLAB_PROFILE/);
});
