// Runs last (test/run.ts's final phase, after the shared test cluster has stopped): the whole
// suite left nothing on the host: no test node process or containerd shim, no kubepods or
// conclab cgroup, no node link or mount, no workload process, no changed sysctl.
import test from 'ava';
import { hostLeftovers } from '../cluster/leftovers.ts';

test('after the suite, nothing of the tests is left on the host', async (t) => {
  // Processes stopping with the cluster (SIGTERM, then SIGKILL) get a bounded moment.
  const record = process.env['CONCLAB_SYSCTL_RECORD'];
  let left = hostLeftovers(record);
  for (let i = 0; i < 40 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    left = hostLeftovers(record);
  }
  t.deepEqual(left, []);
});
