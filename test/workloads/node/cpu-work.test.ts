import test from 'ava';
import { burn, calibrate } from '../../../workloads/node/cpu-work.ts';
import { planWork } from '../../../workloads/node/work.ts';

function threadCpuMillis(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}

test('burn is a deterministic computation, not a sleep', (t) => {
  t.is(burn(1000, 42), burn(1000, 42));
  t.not(burn(1000, 42), burn(1001, 42));
});

test('calibrated work costs about the requested CPU time, measured in CPU time not wall time', (t) => {
  const perMilli = calibrate({ rounds: 3, roundCpuMillis: 20 });
  t.true(perMilli > 1000, `${perMilli} iterations per ms`);
  const start = threadCpuMillis();
  burn(Math.round(50 * perMilli), 3);
  const spent = threadCpuMillis() - start;
  // Generous: the machine is shared; calibration takes the best round, so work can only get slower.
  t.true(spent > 50 * 0.5 && spent < 50 * 4, `50 ms requested, ${spent.toFixed(1)} ms CPU spent`);
});

test('the io profile does no computation and the cpu profile no waiting', (t) => {
  const base = { cpuMillis: 5, ioMillis: 20, cpuIterationsPerMilli: 1000, sharedState: undefined };
  t.like(planWork({ ...base, profile: 'io' }), { cpuIterations: 0, ioMillis: 20 });
  t.like(planWork({ ...base, profile: 'cpu' }), { cpuIterations: 5000, ioMillis: 0 });
  t.like(planWork({ ...base, profile: 'mixed' }), { cpuIterations: 5000, ioMillis: 20 });
});
