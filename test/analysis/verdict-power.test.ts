// The verdict says how many trials would tell, when a difference is not significant.
import test from 'ava';
import { trialsNeeded } from '../../operator/analysis/power.ts';
import { summarizeVariants } from '../../operator/analysis/variant-summary.ts';
import { decideVerdict } from '../../operator/analysis/verdict.ts';
import { buildRun, type TrialShape } from './records-builder.ts';

const atCapacity =
  (throughputs: number[]) =>
  (trial: number): TrialShape => ({ rate: 300, completed: () => throughputs[trial - 1] ?? 0 });

function verdictOf(process: number[], thread: number[]) {
  const run = buildRun({ process: atCapacity(process), thread: atCapacity(thread) });
  return decideVerdict(summarizeVariants(run.experiment, run.trials));
}

test('a difference that is not significant gets the trials per variant that would detect it', (t) => {
  // thread is ahead by ~7 req/s with trial-to-trial spread of ~6: a few more trials would tell.
  const v = verdictOf([180, 190, 185], [186, 198, 192]);
  const tp = v.dimensions.find((d) => d.dimension === 'throughput');
  t.false(tp?.significant);
  const expected = trialsNeeded([186, 198, 192], [180, 190, 185]);
  t.truthy(expected?.trials);
  t.deepEqual(tp?.trialsNeeded, expected);
  t.regex(tp?.statement ?? '', new RegExp(`about ${expected?.trials} trials per variant would detect`));
  t.regex(v.verdict.summary, new RegExp(`about ${expected?.trials} trials per variant`));
});

test('a significant difference needs no estimate', (t) => {
  const v = verdictOf([160, 162, 158], [196, 200, 198]);
  t.is(v.dimensions.find((d) => d.dimension === 'throughput')?.trialsNeeded, undefined);
});

test('a difference lost in the noise says so instead of giving a number', (t) => {
  const v = verdictOf([180, 200, 190], [185, 205, 178]);
  const tp = v.dimensions.find((d) => d.dimension === 'throughput');
  t.is(tp?.trialsNeeded?.trials, undefined);
  t.regex(tp?.statement ?? '', /more than 1000 trials per variant/);
});

test('throughput bound by the offered load gets no estimate: more trials would not separate it', (t) => {
  const run = buildRun({
    process: (trial) => ({ rate: 100, completed: () => [100, 99, 100][trial - 1] ?? 100 }),
    thread: () => ({ rate: 100 }),
  });
  const v = decideVerdict(summarizeVariants(run.experiment, run.trials));
  t.true(v.throughputBoundByOfferedLoad);
  t.is(v.dimensions.find((d) => d.dimension === 'throughput')?.trialsNeeded, undefined);
});
