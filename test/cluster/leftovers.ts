// What the whole test run may not leave on the host, checked after the last test and printed by
// .ci/run: test nodes' processes and containerd shims, kubepods and conclab cgroups, the nodes'
// links and mounts, conclab temp dirs with mounts, workload processes, and any change to the
// sysctls a kubelet or the bridge plugin would write (recorded when the run starts).
//
//   node test/cluster/leftovers.ts --record FILE    write the host's sysctls (test/run.ts at start)
//   node test/cluster/leftovers.ts --print [FILE]   print what is left, compared with FILE; exit 1 if anything
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupMount, hostSysctls } from './host-state.ts';

const PROCESS_PATTERNS = [
  /kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy/,
  /\/etcd(\s|$)/,
  /containerd(-shim)?/,
  /workloads\/(node\/main\.ts|python\/main\.py)/,
  /conclab\.js (run|operator|trial|generate)/,
];

function processes(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    if (cmdline && PROCESS_PATTERNS.some((p) => p.test(cmdline)) && !/leftovers\.ts/.test(cmdline)) {
      found.push(`process ${entry}: ${cmdline.slice(0, 160)}`);
    }
  }
  return found;
}

function cgroups(): string[] {
  const found: string[] = [];
  for (const hierarchy of readdirSync(cgroupMount)) {
    let entries: string[];
    try {
      entries = readdirSync(join(cgroupMount, hierarchy));
    } catch {
      continue;
    }
    for (const e of entries) {
      if (/^kubepods|^conclab-/.test(e)) found.push(`cgroup ${join(cgroupMount, hierarchy, e)}`);
    }
  }
  return found;
}

function links(): string[] {
  return readdirSync('/sys/class/net')
    .filter((l) => /^conclab|^cni|^cx-/.test(l))
    .map((l) => `network link ${l}`);
}

function mounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((p) => /\/conclab-|\/kubelet\/|\/containerd\//.test(p))
    .map((p) => `mount ${p}`);
}

function sysctlChanges(recordFile: string | undefined): string[] {
  if (!recordFile || !existsSync(recordFile)) return [];
  const before = JSON.parse(readFileSync(recordFile, 'utf8')) as Record<string, string>;
  const now = hostSysctls();
  return Object.keys(before)
    .filter((k) => now[k] !== before[k])
    .map((k) => `sysctl ${k}: ${before[k]} at the start, ${now[k]} now`);
}

/** Everything left; empty when the host is as the run found it. */
export function hostLeftovers(recordFile?: string): string[] {
  return [...processes(), ...cgroups(), ...links(), ...mounts(), ...sysctlChanges(recordFile)];
}

export function recordHostSysctls(file: string): void {
  writeFileSync(file, `${JSON.stringify(hostSysctls(), null, 2)}\n`);
}

if (import.meta.main) {
  const [flag, file] = process.argv.slice(2);
  if (flag === '--record' && file) {
    recordHostSysctls(file);
  } else if (flag === '--print') {
    const left = hostLeftovers(file);
    console.log(
      left.length
        ? `left on the host after the tests:\n${left.map((l) => `  ${l}`).join('\n')}`
        : 'left on the host after the tests: nothing (no test node process or shim, kubepods or conclab cgroup, node link or mount, workload process, or changed sysctl)',
    );
    process.exitCode = left.length ? 1 : 0;
  } else {
    console.error('usage: leftovers.ts --record FILE | --print [FILE]');
    process.exitCode = 2;
  }
}
