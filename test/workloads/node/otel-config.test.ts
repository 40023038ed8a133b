// Tracing is configured by the standard OTEL_* variables only, with the spec's defaults and
// precedence; bad values are named with the fix.
import test from 'ava';
import { parseOtelConfig } from '../../../workloads/node/otel-config.ts';

function parse(env: Record<string, string>) {
  const problems: string[] = [];
  const config = parseOtelConfig(env, problems);
  return { config, problems };
}

test('tracing is on when a traces endpoint is set; the base endpoint gets /v1/traces appended', (t) => {
  const { config, problems } = parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' });
  t.deepEqual(problems, []);
  t.true(config.enabled);
  t.is(config.tracesUrl, 'http://127.0.0.1:4318/v1/traces');
});

test('the traces-specific endpoint is used as given and wins over the base endpoint', (t) => {
  const { config } = parse({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://receiver:9999/custom/path',
  });
  t.is(config.tracesUrl, 'http://receiver:9999/custom/path');
});

test('no endpoint: off without a detail (nothing asked for tracing)', (t) => {
  const { config } = parse({});
  t.false(config.enabled);
  t.is(config.detail, undefined);
});

test('OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn tracing off and say which', (t) => {
  const disabled = parse({ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1' }).config;
  t.false(disabled.enabled);
  t.is(disabled.detail, 'OTEL_SDK_DISABLED=true');
  const none = parse({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1' }).config;
  t.false(none.enabled);
  t.is(none.detail, 'OTEL_TRACES_EXPORTER=none');
});

test('the default sampler is parentbased_always_on, as the specification says', (t) => {
  t.deepEqual(parse({}).config.sampler, { name: 'parentbased_always_on', parentBased: true, ratio: 1 });
});

const samplers: Array<[string, string | undefined, { parentBased: boolean; ratio: number }]> = [
  ['always_on', undefined, { parentBased: false, ratio: 1 }],
  ['always_off', '0.5', { parentBased: false, ratio: 0 }],
  ['traceidratio', '0.25', { parentBased: false, ratio: 0.25 }],
  ['traceidratio', undefined, { parentBased: false, ratio: 1 }],
  ['parentbased_always_on', undefined, { parentBased: true, ratio: 1 }],
  ['parentbased_always_off', undefined, { parentBased: true, ratio: 0 }],
  ['parentbased_traceidratio', '0.1', { parentBased: true, ratio: 0.1 }],
];
for (const [name, arg, expected] of samplers) {
  test(`OTEL_TRACES_SAMPLER=${name}${arg === undefined ? '' : ` with arg ${arg}`} reads as ${JSON.stringify(expected)}`, (t) => {
    const env: Record<string, string> = { OTEL_TRACES_SAMPLER: name };
    if (arg !== undefined) env['OTEL_TRACES_SAMPLER_ARG'] = arg;
    const { config, problems } = parse(env);
    t.deepEqual(problems, []);
    t.deepEqual(config.sampler, { name, ...expected });
  });
}

test('headers, timeout, service name and resource attributes are read, percent-decoded, traces-specific first', (t) => {
  const { config, problems } = parse({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1',
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc, x-team=perf',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=traces',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    OTEL_SERVICE_NAME: 'checkout',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=lab,conclab.experiment=e%2C1',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64',
  });
  t.deepEqual(problems, []);
  t.deepEqual(config.headers, { authorization: 'Bearer abc', 'x-team': 'traces' });
  t.is(config.timeoutMillis, 2500);
  t.is(config.serviceName, 'checkout');
  t.deepEqual(config.resourceAttributes, { 'deployment.environment': 'lab', 'conclab.experiment': 'e,1' });
  t.like(config.batch, { scheduledDelayMillis: 200, maxExportBatchSize: 64, maxQueueSize: 16_384 });
});

const bad: Array<[string, Record<string, string>, RegExp]> = [
  [
    'an unknown sampler',
    { OTEL_TRACES_SAMPLER: 'jaeger_remote' },
    /OTEL_TRACES_SAMPLER="jaeger_remote" is not supported: expected one of always_on/,
  ],
  [
    'a ratio above 1',
    { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' },
    /OTEL_TRACES_SAMPLER_ARG="2" is invalid: expected a ratio from 0 to 1/,
  ],
  [
    'grpc',
    { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    /OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported: .*http\/protobuf only/,
  ],
  [
    'http/json for traces',
    { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' },
    /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http\/json" is not supported/,
  ],
  ['a zipkin exporter', { OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER="zipkin" is not supported/],
  [
    'an endpoint without scheme',
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' },
    /OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4318" is invalid: expected an http\(s\) URL/,
  ],
  [
    'a header without =',
    { OTEL_EXPORTER_OTLP_HEADERS: 'authorization' },
    /OTEL_EXPORTER_OTLP_HEADERS="authorization" is invalid: "authorization" is not key=value/,
  ],
  [
    'a broken percent-encoding',
    { OTEL_RESOURCE_ATTRIBUTES: 'a=%zz' },
    /OTEL_RESOURCE_ATTRIBUTES="a=%zz" is invalid: the value of "a" is not valid percent-encoding/,
  ],
  ['a negative timeout', { OTEL_EXPORTER_OTLP_TIMEOUT: '-1' }, /OTEL_EXPORTER_OTLP_TIMEOUT="-1" is invalid/],
  [
    'a typo in OTEL_SDK_DISABLED',
    { OTEL_SDK_DISABLED: 'yes' },
    /OTEL_SDK_DISABLED="yes" is invalid: expected true or false/,
  ],
];
for (const [name, env, message] of bad) {
  test(`rejects ${name} with a message naming the variable`, (t) => {
    const { problems } = parse(env);
    t.is(problems.length, 1, problems.join('\n'));
    t.regex(problems[0]!, message);
  });
}

test('the supported protocol is accepted', (t) => {
  t.deepEqual(parse({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }).problems, []);
});
