// `npm test`: runs ava with TAP output, shows it, and ends with the one summary line that CI
// and people both read: `tests: N passed, N failed`. Arguments pass through to ava
// (`npm test -- test/api/**`). Exits non-zero when a test failed or none ran.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { hostLeftovers, recordHostSysctls } from './cluster/leftovers.ts';
import { stopSharedClusterIfIdle, takeLease } from './cluster/shared-lease.ts';
import { summarizeTap } from './tap-summary.ts';

// What npm cannot install: the cluster binaries built from Go modules and the real test node's
// images (cached outside the repo; a cold build takes minutes, a warm check seconds), Chromium for
// the HTML report test and the node's Debian packages. CONCLAB_SKIP_PREPARE=1 skips it when you run a subset that needs neither.
if (process.env.CONCLAB_SKIP_PREPARE !== '1') {
  const prepared = spawnSync('bash', ['test/prepare.sh'], { stdio: 'inherit' });
  if (prepared.status !== 0) {
    console.error('test/prepare.sh failed (see above); the tests need what it installs.');
    console.log('tests: 0 passed, 1 failed');
    process.exit(1);
  }
}

// The real test cluster is shared by every test file that needs one (test/cluster/shared-cluster.ts;
// the first such file starts it). This lease keeps it up between files; it stops when the run ends.
const releaseCluster = takeLease('npm test (test/run.ts)');

// Two phases on a small machine: first every test file as ava schedules them (files run
// concurrently), then the end-to-end files ALONE, one at a time: they measure real workloads on
// the real node, and a concurrent file competing for the same 2 CPUs would make their figures
// (and assertions on them) depend on what else happens to run. Arguments select files for one
// phase only (`npm test -- test/load/`).
const args = process.argv.slice(2);
const SERIAL_ALONE = ['e2e'];
// Runs after the shared cluster stopped: the host must be as the run found it.
const LAST = 'final';
const concurrent = readdirSync('test', { withFileTypes: true })
  .filter((d) => d.isDirectory() && !SERIAL_ALONE.includes(d.name) && d.name !== LAST)
  .map((d) => `test/${d.name}/**/*.test.ts`);
const phases: string[][] = args.length
  ? [args]
  : [
      ['test/*.test.ts', ...concurrent],
      ['--concurrency', '1', '--serial', ...SERIAL_ALONE.map((d) => `test/${d}/**/*.test.ts`)],
    ];
// The sysctls a kubelet or the bridge plugin would write, as the run found them.
const sysctlRecord = join(mkdtempSync(join(tmpdir(), 'conclab-test-run-')), 'sysctls.json');
recordHostSysctls(sysctlRecord);
process.env['CONCLAB_SYSCTL_RECORD'] = sysctlRecord;

const lines: string[] = [];
let code = 0;
async function runAva(phase: string[]): Promise<void> {
  const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.js', '--tap', ...phase], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: ava.stdout }).on('line', (line) => {
    lines.push(line);
    console.log(line);
  });
  const phaseCode: number = await new Promise((resolve) => ava.on('close', (c) => resolve(c ?? 1)));
  if (phaseCode !== 0) code = phaseCode;
}
for (const phase of phases) await runAva(phase);
releaseCluster();
await stopSharedClusterIfIdle();
if (!args.length) {
  await runAva([`test/${LAST}/**/*.test.ts`]);
  // Printed for every run (and so in .ci/run's log): what the suite left on the host.
  const left = hostLeftovers(sysctlRecord);
  console.log(
    left.length
      ? `left on the host after the tests:\n${left.map((l) => `  ${l}`).join('\n')}`
      : 'left on the host after the tests: nothing (no test node process or shim, kubepods or conclab cgroup, node link or mount, workload process, or changed sysctl)',
  );
}
rmSync(dirname(sysctlRecord), { recursive: true, force: true });
const { passed, failed, skipped } = summarizeTap(lines);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(code !== 0 || failed > 0 || passed === 0 ? 1 : 0);
