// How generators share one plan and how their parts merge, whatever runs them: the shares
// interleave into exactly the one schedule under their share of the cap; k6 gets the same
// split as execution segments; a merge is exact only when every part is (k6 samples, not a
// summary); and local k6 generators (FAKE k6: no k6 exists here) each run their segment.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { runLoad } from '../../operator/load/index.ts';
import { executionSegmentArgs } from '../../operator/load/k6-runner.ts';
import { parseK6Samples } from '../../operator/load/k6-samples.ts';
import { parseK6Summary } from '../../operator/load/k6-summary.ts';
import { mergeLoadParts } from '../../operator/load/merge.ts';
import { planSegments, sendTimesMillis } from '../../operator/load/schedule.ts';
import { generatorCap, sharePlan } from '../../operator/load/share.ts';
import type { LoadPlan } from '../../operator/load/types.ts';
import { assertConsistent } from './consistency.ts';
import { type FixtureRequest, handleSummaryData, k6SampleLines } from './k6-fixtures.ts';

const constant: LoadPlan = {
  targets: ['http://a/work', 'http://b/work', 'http://c/work'],
  rate: 97,
  durationMillis: 3000,
  warmUpMillis: 500,
  maxInFlight: 100,
  timeoutMillis: 1000,
};
const ramp: LoadPlan = {
  ...constant,
  rate: undefined,
  startRate: 3,
  stages: [
    { durationMillis: 1500, targetRate: 200 },
    { durationMillis: 1500, targetRate: 20 },
  ],
  durationMillis: 3000,
};

for (const [name, plan] of [
  ['constant', constant],
  ['ramping', ramp],
] as const) {
  test(`${name}: N shares interleave into exactly the one schedule, each under maxInFlight / N`, (t) => {
    const whole = [...sendTimesMillis(planSegments(plan))];
    for (const count of [1, 2, 3, 5, 16]) {
      const union: [number, number][] = [];
      for (let index = 0; index < count; index++) {
        const share = sharePlan({ ...plan, generators: count }, count);
        t.is(share.maxInFlight, generatorCap(plan.maxInFlight, count));
        t.false('generators' in share, 'a share is run by one generator');
        let k = 0;
        for (const at of sendTimesMillis(planSegments(share), { index, count })) union.push([index + k++ * count, at]);
      }
      union.sort((a, b) => a[0] - b[0]);
      t.deepEqual(
        union.map(([i]) => i),
        whole.map((_, i) => i),
        `${count} shares: each request once`,
      );
      t.deepEqual(
        union.map(([, at]) => at),
        whole,
        `${count} shares: at the times of the one schedule`,
      );
    }
  });
}

test('the cap of a share never falls below one request', (t) => {
  t.is(generatorCap(512, 3), 170);
  t.is(generatorCap(16, 16), 1);
  t.is(generatorCap(5, 16), 1);
});

test('k6 runs a share as its execution segment of N equal ones', (t) => {
  t.deepEqual(executionSegmentArgs(undefined), []);
  t.deepEqual(executionSegmentArgs({ index: 0, count: 1 }), []);
  t.deepEqual(executionSegmentArgs({ index: 0, count: 2 }), [
    '--execution-segment',
    '0:1/2',
    '--execution-segment-sequence',
    '0,1/2,1',
  ]);
  t.deepEqual(executionSegmentArgs({ index: 2, count: 3 }), [
    '--execution-segment',
    '2/3:1',
    '--execution-segment-sequence',
    '0,1/3,2/3,1',
  ]);
  t.throws(() => executionSegmentArgs({ index: 2, count: 2 }), { message: /share 2 of 2/ });
});

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 0);
const targets = ['http://10.0.0.1:8080/work'];
const context = { targets, timeoutMillis: 2000, durationMillis: 2000 };
/** 200 measured requests over 2 s, one in 40 failing with 503. */
const requests: FixtureRequest[] = Array.from({ length: 200 }, (_, i) => ({
  scenario: 'measure',
  sentAtMillis: T0 + i * 10,
  durationMillis: 1 + (i % 13) * 0.5,
  status: i % 40 === 3 ? 503 : 200,
  errorCode: 0,
  target: 0,
}));
const halfOf = (k: number) =>
  parseK6Samples(k6SampleLines(requests.filter((_, i) => i % 2 === k)).join('\n'), {
    ...context,
    startedAtMillis: T0,
  });

test('a k6 result from per-request samples is exact, one from a summary approximate, and a merge exact only when every part is', (t) => {
  const [a, b] = [halfOf(0), halfOf(1)];
  t.false('latencyHistogramSynthesized' in a.result, 'from samples: exact');
  const summary = parseK6Summary(handleSummaryData, { startedAtMillis: T0, endedAtMillis: T0 + 2000 });
  t.true(summary.latencyHistogramSynthesized, 'from a summary: approximate');

  const exact = mergeLoadParts([a, b]).result;
  assertConsistent(t, exact);
  t.false('latencyHistogramSynthesized' in exact, 'two exact parts merge exactly');
  t.is(exact.sent, 200);
  t.deepEqual(exact.parts, [
    { generator: 0, scheduled: 100, sent: 100, completed: a.result.completed },
    { generator: 1, scheduled: 100, sent: 100, completed: b.result.completed },
  ]);

  const mixed = mergeLoadParts([a, { result: summary }]).result;
  t.true(mixed.latencyHistogramSynthesized, 'one part from a summary makes the merge approximate');
  t.deepEqual(mixed.perSecond, [], 'no series that would hold only one part’s requests');
  t.is(mixed.sent, a.result.sent + summary.sent, 'the counts still add');
  t.is(mixed.generators, 2);
});

/**
 * FAKE k6 for tests (no k6 exists here): records its arguments, and writes to the --out json=
 * file the samples of the half its --execution-segment names (0:1/2 the even requests, 1/2:1
 * the odd ones), as a real k6 run of that segment would.
 */
async function fakeSegmentK6(t: ExecutionContext): Promise<{ bin: string; argsLog: string }> {
  const bin = await mkdtemp(join(tmpdir(), 'conclab-fake-k6-segments-'));
  t.teardown(() => rm(bin, { recursive: true, force: true }));
  for (const k of [0, 1]) {
    await writeFile(
      join(bin, `samples-${k}.jsonl`),
      `${k6SampleLines(requests.filter((_, i) => i % 2 === k)).join('\n')}\n`,
    );
  }
  await writeFile(join(bin, 'summary.json'), JSON.stringify(handleSummaryData));
  const argsLog = join(bin, 'args.log');
  const script = [
    '#!/bin/sh',
    '# FAKE k6: run --quiet --no-color [--execution-segment S --execution-segment-sequence Q] --out json=FILE SCRIPT',
    `echo "$*" >> '${argsLog}'`,
    "samples=''; segment=''; prev=''",
    'for a; do case "$a" in json=*) samples=$(printf %s "$a" | sed s/^json=//);; esac; [ "$prev" = --execution-segment ] && segment="$a"; prev="$a"; done',
    'for last; do :; done',
    `out=$(sed -n 's/^const SUMMARY_PATH = "\\(.*\\)";$/\\1/p' "$last")`,
    `cp '${join(bin, 'summary.json')}' "$out"`,
    `case "$segment" in 0:1/2) k=0;; 1/2:1) k=1;; *) echo "unexpected segment $segment" >&2; exit 3;; esac`,
    `gzip -c '${bin}'/samples-$k.jsonl > "$samples"`,
    'exit 0',
  ].join('\n');
  await writeFile(join(bin, 'k6'), script);
  await chmod(join(bin, 'k6'), 0o755);
  return { bin, argsLog };
}

test('two local k6 generators (FAKE k6) each run their execution segment, and their samples merge exactly', async (t) => {
  const { bin, argsLog } = await fakeSegmentK6(t);
  const workDir = await mkdtemp(join(tmpdir(), 'conclab-k6-work-'));
  t.teardown(() => rm(workDir, { recursive: true, force: true }));
  const plan: LoadPlan = {
    targets,
    rate: 100,
    durationMillis: 2000,
    warmUpMillis: 0,
    maxInFlight: 8,
    timeoutMillis: 2000,
    generators: 2,
  };
  const r = await runLoad(plan, 'k6', { k6: { pathEnv: bin, workDir } });
  const runs = (await readFile(argsLog, 'utf8')).trim().split('\n');
  t.is(runs.length, 2, 'one k6 run per generator');
  t.deepEqual(
    runs.map((a) => /--execution-segment (\S+)/.exec(a)?.[1]).sort(),
    ['0:1/2', '1/2:1'],
    'each its own half of the schedule',
  );
  t.true(
    runs.every((a) => a.includes('--execution-segment-sequence 0,1/2,1')),
    'of the same sequence',
  );
  t.is(r.generators, 2);
  t.is(r.sent, 200, 'both halves, each once');
  t.false('latencyHistogramSynthesized' in r, 'built from both runs’ samples: exact');
  t.deepEqual(
    r.parts?.map((p) => p.sent),
    [100, 100],
  );
});
