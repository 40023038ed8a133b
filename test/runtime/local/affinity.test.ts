import { spawn } from 'node:child_process';
import test from 'ava';
import { parseCpuList, pinProcess, planCpuPlacement, readAffinity } from '../../../operator/runtime/local/affinity.ts';

test('parses kernel CPU lists', (t) => {
  t.deepEqual(parseCpuList('0-3,6,8-9\n'), [0, 1, 2, 3, 6, 8, 9]);
  t.deepEqual(parseCpuList('1'), [1]);
  t.throws(() => parseCpuList('x'), { message: /bad CPU list/ });
});

test('with cgroups, the generator gets the first CPU when the rest still cover the budget', (t) => {
  t.like(planCpuPlacement({ cpus: [0, 1], cpuCores: 0.5, mode: 'cgroup' }), {
    workloadCpus: [1],
    driverCpus: [0],
    warnings: [],
  });
  t.like(planCpuPlacement({ cpus: [0, 1, 2, 3], cpuCores: 2, mode: 'cgroup' }), {
    workloadCpus: [1, 2, 3],
    driverCpus: [0],
  });
});

test('with cgroups, N load generators get up to N CPUs of their own, as many as the budget spares', (t) => {
  t.like(planCpuPlacement({ cpus: [0, 1, 2, 3, 4, 5], cpuCores: 2, mode: 'cgroup', generators: 3 }), {
    workloadCpus: [3, 4, 5],
    driverCpus: [0, 1, 2],
    warnings: [],
  });
  t.like(
    planCpuPlacement({ cpus: [0, 1, 2, 3], cpuCores: 2.5, mode: 'cgroup', generators: 4 }),
    { workloadCpus: [1, 2, 3], driverCpus: [0] },
    'the budget needs 3 CPUs: one is left for all four generators',
  );
  t.like(planCpuPlacement({ cpus: [0, 1], cpuCores: 1.5, mode: 'cgroup', generators: 2 }), {
    workloadCpus: undefined,
    driverCpus: undefined,
  });
});

test('with cgroups and no CPU to spare, nothing is pinned and the sharing is reported', (t) => {
  const p = planCpuPlacement({ cpus: [0, 1], cpuCores: 1.5, mode: 'cgroup' });
  t.is(p.workloadCpus, undefined);
  t.is(p.driverCpus, undefined);
  t.regex(p.warnings[0] ?? '', /load generator shares CPUs with the workload.*needs 2/);
});

test('the affinity fallback gives the workload floor(cpu) CPUs, at least one', (t) => {
  t.like(planCpuPlacement({ cpus: [0, 1, 2, 3], cpuCores: 2.7, mode: 'affinity' }), {
    workloadCpus: [2, 3],
    driverCpus: [0, 1],
  });
  t.like(planCpuPlacement({ cpus: [0, 1], cpuCores: 0.25, mode: 'affinity' }), { workloadCpus: [1], driverCpus: [0] });
  const all = planCpuPlacement({ cpus: [0, 1], cpuCores: 8, mode: 'affinity' });
  t.deepEqual(all.workloadCpus, [0, 1]);
  t.is(all.driverCpus, undefined);
  t.is(all.warnings.length, 1);
});

test('pins every thread of a running process and reads the pinning back', async (t) => {
  const cpus = readAffinity();
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const target = cpus.slice(-1);
  await pinProcess(child.pid!, target);
  t.deepEqual(readAffinity(child.pid!), target);
  await t.throwsAsync(pinProcess(child.pid!, [4095]), { message: /cannot pin process \d+ to CPUs 4095 with taskset/ });
});
