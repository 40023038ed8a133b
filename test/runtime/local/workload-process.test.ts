import test from 'ava';
import {
  descendants,
  parseProcStat,
  processStartTicks,
  processTreeUsage,
} from '../../../operator/runtime/local/process-tree.ts';
import {
  describeExit,
  parseWorkloadLine,
  readyAnnouncement,
} from '../../../operator/runtime/local/workload-process.ts';

test('only JSON objects with an event are workload lines', (t) => {
  t.deepEqual(parseWorkloadLine('{"event":"fault","kind":"exit"}'), {
    event: 'fault',
    fields: { event: 'fault', kind: 'exit' },
  });
  t.is(parseWorkloadLine('listening on 8080'), undefined);
  t.is(parseWorkloadLine('{"msg":"no event"}'), undefined);
  t.is(parseWorkloadLine('{"event":'), undefined);
  t.is(parseWorkloadLine('[1,2]'), undefined);
});

test('a ready line needs a valid port and admin port', (t) => {
  t.deepEqual(readyAnnouncement({ event: 'ready', port: 8080, adminPort: 8081, pid: 7 }), {
    port: 8080,
    adminPort: 8081,
    pid: 7,
  });
  t.is(readyAnnouncement({ event: 'ready', port: 0, adminPort: 8081 }), undefined);
  t.is(readyAnnouncement({ event: 'ready', port: '8080', adminPort: 8081 }), undefined);
  t.is(readyAnnouncement({ event: 'worker-exit', port: 1, adminPort: 2 }), undefined);
});

test('exits are described by signal or code', (t) => {
  t.is(describeExit({ code: null, signal: 'SIGKILL' }), 'was killed by SIGKILL');
  t.is(describeExit({ code: 3, signal: null }), 'exited with code 3');
});

test('a process is named for good by its pid and start time; a gone pid has none', async (t) => {
  const { spawn } = await import('node:child_process');
  const mine = processStartTicks(process.pid);
  t.true(Number.isInteger(mine) && mine! > 0, String(mine));
  t.is(processStartTicks(process.pid), mine, 'stable while the process lives');
  // pid 2^22+1 is above the kernel's pid_max: no process can have it.
  t.is(processStartTicks(4_194_305), undefined);
  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const childTicks = processStartTicks(child.pid!);
  t.true(childTicks !== undefined && childTicks >= mine!, 'started after this process');
  child.kill('SIGKILL');
  await exited;
  t.is(processStartTicks(child.pid!), undefined, 'reaped: gone');
});

test('parses /proc/<pid>/stat even when the command has spaces and parentheses', (t) => {
  const line = '1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 100 1000 10';
  t.deepEqual(parseProcStat(line), { pid: 1234, ppid: 1, cpuTicks: 310 });
  t.is(parseProcStat('garbage'), undefined);
});

test('a process tree is the root and its descendants only', (t) => {
  const stats = [
    { pid: 10, ppid: 1, cpuTicks: 1 },
    { pid: 11, ppid: 10, cpuTicks: 2 },
    { pid: 12, ppid: 11, cpuTicks: 3 },
    { pid: 13, ppid: 1, cpuTicks: 4 },
  ];
  t.deepEqual(
    descendants(10, stats).map((s) => s.pid),
    [10, 11, 12],
  );
  t.deepEqual(descendants(99, stats), []);
});

test('this process has a measurable CPU time and peak memory', (t) => {
  const u = processTreeUsage(process.pid);
  t.true(u.pids.includes(process.pid));
  t.true(u.peakMemoryBytes > 1024 * 1024);
  t.true(u.cpuSeconds >= 0);
});
