import test from 'ava';
import { usageDuringLoad } from '../../operator/engine/run-experiment.ts';
import type { ResourceUsage } from '../../operator/engine/runtime.ts';

const reading = (cpuSeconds: number, throttledSeconds: number, peakMemoryBytes: number): ResourceUsage => ({
  cpuSeconds,
  throttledPeriods: Math.round(throttledSeconds * 10),
  throttledSeconds,
  peakMemoryBytes,
  limits: { cpuCores: 1, memoryBytes: 512 * 2 ** 20, source: 'test' },
  restarts: 0,
});

test('CPU and throttling cover the load only; peak memory and limits come from the end reading', (t) => {
  const u = usageDuringLoad(reading(2.5, 0.1, 100), reading(12.5, 1.1, 180));
  t.is(u.cpuSeconds, 10);
  t.is(u.throttledSeconds, 1);
  t.is(u.throttledPeriods, 10);
  t.is(u.peakMemoryBytes, 180);
  t.is(u.limits.cpuCores, 1);
});

test('without a first reading the end reading stands, and counters never go negative', (t) => {
  t.is(usageDuringLoad(undefined, reading(3, 0, 1)).cpuSeconds, 3);
  // A restarted process outside cgroups starts its counters again from zero.
  t.is(usageDuringLoad(reading(5, 1, 1), reading(2, 0, 1)).cpuSeconds, 0);
});
