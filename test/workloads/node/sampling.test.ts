// The sampling decision made before any span exists: parent-based samplers follow the incoming
// sampled flag, traceidratio decides on the trace id exactly as the SDK's sampler does, and a
// new trace's id is uniform and consistent with the decision.
import { TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import test from 'ava';
import type { SamplerConfig } from '../../../workloads/node/otel-config.ts';
import { newTraceId, parseTraceparent, TraceSampler, traceIdWordXor } from '../../../workloads/node/sampling.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const sampledParent = `00-${TRACE}-${SPAN}-01`;
const unsampledParent = `00-${TRACE}-${SPAN}-00`;

const sampler = (name: SamplerConfig['name'], ratio: number) =>
  new TraceSampler({ name, parentBased: name.startsWith('parentbased_'), ratio });

test('parses a valid traceparent and rejects malformed ones', (t) => {
  t.deepEqual(parseTraceparent(sampledParent), { traceId: TRACE, spanId: SPAN, sampled: true });
  t.false(parseTraceparent(unsampledParent)!.sampled);
  t.true(parseTraceparent(`01-${TRACE}-${SPAN}-01-future`)!.sampled, 'a later version may append fields');
  for (const bad of [
    '',
    `00-${TRACE}-${SPAN}-0`,
    `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-${'0'.repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01-extra`,
    `00_${TRACE}-${SPAN}-01`,
  ]) {
    t.is(parseTraceparent(bad), undefined, bad);
  }
});

test('parent-based samplers follow the incoming sampled flag and keep trace id, parent and tracestate', (t) => {
  for (const name of ['parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const) {
    const s = sampler(name, name === 'parentbased_always_on' ? 1 : 0);
    t.deepEqual(s.decide(sampledParent, 'vendor=x'), {
      traceId: TRACE,
      xor: 0,
      parentSpanId: SPAN,
      traceState: 'vendor=x',
    });
    t.is(s.decide(unsampledParent), undefined, `${name} honours an unsampled parent`);
  }
  t.is(sampler('parentbased_always_off', 0).decide(undefined), undefined, 'no new traces');
  t.truthy(sampler('parentbased_always_on', 1).decide(undefined), 'every new trace');
});

test('always_on and always_off ignore the parent flag', (t) => {
  t.truthy(sampler('always_on', 1).decide(unsampledParent));
  t.is(sampler('always_off', 0).decide(sampledParent), undefined);
});

test('traceidratio decides on the trace id exactly as the SDK sampler does, parent or not', (t) => {
  for (const ratio of [0.01, 0.25, 0.5, 0.9]) {
    const sdk = new TraceIdRatioBasedSampler(ratio);
    const ours = sampler('traceidratio', ratio);
    for (let i = 0; i < 300; i++) {
      const traceId = Array.from({ length: 32 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
      const header = `00-${traceId}-${SPAN}-00`;
      const expected = sdk.shouldSample({} as never, traceId).decision === 2;
      t.is(ours.decide(header) !== undefined, expected, `${traceId} at ${ratio}`);
    }
  }
});

test('new traces: about the ratio is sampled and each id passes the SDK sampler at that ratio', (t) => {
  const ratio = 0.25;
  const ours = sampler('parentbased_traceidratio', ratio);
  const sdk = new TraceIdRatioBasedSampler(ratio);
  const n = 20_000;
  let sampled = 0;
  const ids = new Set<string>();
  for (let i = 0; i < n; i++) {
    const decided = ours.decide(undefined);
    if (decided === undefined) continue;
    sampled++;
    t.is(decided.traceId, undefined, 'the id of a new trace is built later, off the serving thread');
    t.is(decided.parentSpanId, undefined);
    const traceId = newTraceId(decided.xor);
    t.regex(traceId, /^[0-9a-f]{32}$/);
    t.is(traceIdWordXor(traceId), decided.xor);
    t.is(sdk.shouldSample({} as never, traceId).decision, 2);
    ids.add(traceId);
  }
  // Binomial(20000, 0.25): sd ~ 61; 6 sd is a bound that a correct sampler essentially never crosses.
  t.true(Math.abs(sampled - n * ratio) < 6 * Math.sqrt(n * ratio * (1 - ratio)), `${sampled} of ${n}`);
  t.is(ids.size, sampled, 'ids are distinct');
});

test('the word XOR of a trace id is what the ratio bound is applied to', (t) => {
  t.is(traceIdWordXor('00000001000000020000000400000008'), 15);
  t.is(traceIdWordXor('ffffffff00000000ffffffff00000001'), 1);
});
