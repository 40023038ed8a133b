// The serving side of tracing: a recorder hands its spans over in batches (1,024 at most, or
// what 200 ms gathered), never one at a time, and a batch crosses a worker process's JSON IPC
// channel with every figure intact.
import test from 'ava';
import type { TraceStart } from '../../../workloads/node/sampling.ts';
import {
  fromIpcBatch,
  MAX_BATCH,
  NUMBERS_PER_SPAN,
  type SpanBatch,
  SpanRecorder,
  toIpcBatch,
} from '../../../workloads/node/span-recorder.ts';

const NEW_TRACE: TraceStart = { traceId: undefined, xor: 12345, parentSpanId: undefined, traceState: undefined };
const CHILD: TraceStart = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  xor: 0,
  parentSpanId: '00f067aa0ba902b7',
  traceState: 'vendor=x',
};

function record(recorder: SpanRecorder, n: number, decided = NEW_TRACE): void {
  for (let i = 0; i < n; i++) {
    const span = recorder.start(decided, 1000 + i, 1000.25 + i);
    recorder.end(span, i % 7 === 0 ? 500 : 200, i % 2 === 0 ? 0.5 : undefined, 1002 + i);
  }
}

test('a full batch of 1,024 spans is handed over at once, in one hand-over', (t) => {
  const handed: Array<{ batch: SpanBatch; count: number }> = [];
  const recorder = new SpanRecorder((batch, count) => {
    handed.push({ batch, count });
  });
  record(recorder, MAX_BATCH + 10);
  t.is(handed.length, 1, 'one hand-over for the first 1,024 spans, none per span');
  t.is(handed[0]!.count, MAX_BATCH);
  t.is(handed[0]!.batch.traceIds.length, MAX_BATCH);
});

test('spans short of a batch are handed over within 200 ms, together', async (t) => {
  const counts: number[] = [];
  const recorder = new SpanRecorder((_batch, count) => {
    counts.push(count);
  });
  record(recorder, 5);
  t.deepEqual(counts, [], 'not at once');
  const deadline = Date.now() + 5000;
  while (counts.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.deepEqual(counts, [5]);
});

test('handOver hands over what is recorded now and resolves once the hand-over completed', async (t) => {
  let written = false;
  const recorder = new SpanRecorder(
    () =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          written = true;
          resolve();
        }, 50),
      ),
  );
  record(recorder, 3);
  await recorder.handOver();
  t.true(written, 'a worker process may exit once this resolves');
  await recorder.handOver();
  t.pass('nothing recorded: resolves at once');
});

test('a batch survives the IPC encoding exactly: ids, tracestate, times, status, NaN cost', (t) => {
  let handed: { batch: SpanBatch; count: number } | undefined;
  const recorder = new SpanRecorder((batch, count) => {
    handed = { batch, count };
  });
  record(recorder, 3);
  record(recorder, 2, CHILD);
  void recorder.handOver();
  const { batch, count } = handed!;
  // Through JSON, as process.send does with the fork's default serialization.
  const decoded = fromIpcBatch(JSON.parse(JSON.stringify(toIpcBatch(batch, count))));
  t.deepEqual(decoded.traceIds, ['', '', '', CHILD.traceId, CHILD.traceId]);
  t.deepEqual(decoded.parentSpanIds, ['', '', '', CHILD.parentSpanId, CHILD.parentSpanId]);
  t.deepEqual(decoded.traceStates, ['', '', '', 'vendor=x', 'vendor=x']);
  t.is(decoded.numbers.length, count * NUMBERS_PER_SPAN, 'only the recorded spans travel');
  t.deepEqual([...decoded.numbers], [...batch.numbers.subarray(0, count * NUMBERS_PER_SPAN)]);
  t.true(Number.isNaN(decoded.numbers[1 * NUMBERS_PER_SPAN + 4]!), 'no shared-state cost stays NaN');
  t.is(decoded.numbers[5]!, NEW_TRACE.xor);
  t.is(decoded.numbers[3]!, 500, 'status');
  t.is(decoded.numbers[2]!, 0.25, 'queue time');
});
