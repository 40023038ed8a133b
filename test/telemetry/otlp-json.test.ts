import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import test from 'ava';
import { decodeTraceRequestJson } from '../../operator/telemetry/otlp-json.ts';
import { OtlpDecodeError } from '../../operator/telemetry/span.ts';
import { sdkSpans } from './sdk-spans.ts';

test('decodes what the OpenTelemetry SDK JSON serializer encodes', async (t) => {
  const start = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const spans = await sdkSpans({ 'process.pid': 99 }, [
    {
      startMillis: start,
      durationMillis: 7,
      error: true,
      attributes: { 'conclab.worker': 'w1', 'thread.id': 2, q: 0.5 },
    },
  ]);
  const [s] = decodeTraceRequestJson(Buffer.from(JsonTraceSerializer.serializeRequest(spans)!));
  t.is(s!.traceId, spans[0]!.spanContext().traceId);
  t.is(s!.spanId, spans[0]!.spanContext().spanId);
  t.is(s!.durationNanos, 7_000_000);
  t.is(s!.statusCode, 2);
  t.is(s!.kind, 2);
  t.deepEqual(s!.attributes, { 'conclab.worker': 'w1', 'thread.id': 2, q: 0.5 });
  t.is(s!.resource['process.pid'], 99);
});

test('follows the OTLP/JSON mapping: hex ids, int64 as strings, enum names, snake_case accepted', (t) => {
  const body = JSON.stringify({
    resource_spans: [
      {
        resource: { attributes: [{ key: 'conclab.experiment', value: { stringValue: 'e' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: '5B8EFFF798038103D269B633813FC60C',
                spanId: 'EEE19B7EC3C1B174',
                name: 'x',
                kind: 'SPAN_KIND_SERVER',
                startTimeUnixNano: '1544712660000000001',
                endTimeUnixNano: '1544712661000000003',
                attributes: [
                  { key: 'process.pid', value: { intValue: '12' } },
                  { key: 'ok', value: { boolValue: false } },
                  { key: 'arr', value: { arrayValue: { values: [] } } },
                ],
                status: { code: 'STATUS_CODE_ERROR' },
              },
            ],
          },
        ],
      },
    ],
  });
  const [s] = decodeTraceRequestJson(body);
  t.is(s!.traceId, '5b8efff798038103d269b633813fc60c');
  t.is(s!.spanId, 'eee19b7ec3c1b174');
  t.is(s!.kind, 2);
  t.is(s!.durationNanos, 1_000_000_002);
  t.is(s!.statusCode, 2);
  t.deepEqual(s!.attributes, { 'process.pid': 12, ok: false });
  t.deepEqual(s!.resource, { 'conclab.experiment': 'e' });
});

test('decodes only the wanted attribute keys when asked', (t) => {
  const body = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                attributes: [
                  { key: 'a', value: { intValue: 1 } },
                  { key: 'b', value: { intValue: 2 } },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  const [s] = decodeTraceRequestJson(JSON.stringify(body), { attributeKeys: ['b'] });
  t.deepEqual(s!.attributes, { b: 2 });
});

test('an empty request is valid and has no spans', (t) => {
  t.deepEqual(decodeTraceRequestJson('{}'), []);
});

for (const [name, body, message] of [
  ['not JSON', '{"resourceSpans": [', /invalid OTLP\/JSON/],
  ['a top-level array', '[]', /body: expected an object/],
  ['resourceSpans not an array', '{"resourceSpans": 3}', /resourceSpans: expected an array/],
  [
    'a start time that is not an integer',
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}',
    /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.startTimeUnixNano/,
  ],
  [
    'an attribute int that is not an integer',
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"intValue":"1.5"}}]}]}]}]}',
    /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[0\]\.value\.intValue: expected an integer/,
  ],
  [
    'a resource attribute without a string key',
    '{"resourceSpans":[{"resource":{"attributes":[{"key":1}]}}]}',
    /resourceSpans\[0\]\.resource\.attributes\[0\]\.key: expected a string/,
  ],
  [
    'a trace id that is not hex',
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}',
    /traceId: expected a hex id/,
  ],
] as const) {
  test(`rejects ${name} with a reason naming the place`, (t) => {
    const error = t.throws(() => decodeTraceRequestJson(body), { instanceOf: OtlpDecodeError });
    t.regex(error.message, message);
  });
}
