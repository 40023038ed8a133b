// TEST INFRASTRUCTURE. One run of one container as a local process, the way the kubelet runs a
// container: in a cgroup of its own carrying the container's CPU quota and memory limit (the
// local runtime's cgroup modules, the same CFS period the kubelet uses), as the pod's
// runAsUser/runAsGroup (setpriv), in its own process group. The process joins the cgroup before
// it execs (a tiny shell, as the local runtime does), so nothing it forks escapes the limits.
// On exit the kernel's OOM counter tells an OOM kill from any other SIGKILL; then whatever is
// left in the group is killed and the group removed, as a container's end removes its cgroup.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import {
  type CgroupGroup,
  createGroup,
  hasSwapLimit,
  listGroupPids,
  procsFiles,
  readGroupUsage,
  removeGroup,
  signalPids,
  type UsableLayout,
  writeLimits,
} from '../../../operator/runtime/local/cgroup-group.ts';
import { type Budget, limitWrites } from '../../../operator/runtime/local/cgroup-limits.ts';

// Joins every hierarchy (one cgroup.procs per argument before "--"), then becomes the container.
// Exit code 97: the shell could not join the group (its stderr says why). Same as the local runtime.
const ENTER_SCRIPT =
  'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"';

export interface ContainerLimits {
  cpuCores?: number;
  memoryBytes?: number;
}

export interface StartContainerOptions {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Log file (stdout and stderr, appended). */
  logPath: string;
  /** Cgroup layout; undefined runs without limits (the agent warned). */
  layout: UsableLayout | undefined;
  /** Unique group name (runtimePrefix(...) + something). */
  groupName: string;
  limits: ContainerLimits;
  runAsUser?: number;
  runAsGroup?: number;
}

export interface ExitInfo {
  exitCode: number;
  signal?: number;
  oomKilled: boolean;
}

export interface ContainerProcess {
  readonly pid: number;
  readonly group: CgroupGroup | undefined;
  readonly exited: Promise<ExitInfo>;
  hasExited(): boolean;
  /** Signals the process group (and on SIGKILL everything in the cgroup). */
  signal(signal: NodeJS.Signals): void;
}

function signalNumber(signal: NodeJS.Signals | null): number | undefined {
  return signal ? (constants.signals as Record<string, number>)[signal] : undefined;
}

/** Budget for the cgroup writes, with "no limit" where the container has none. */
function budgetOf(limits: ContainerLimits): Budget | undefined {
  if (limits.cpuCores === undefined && limits.memoryBytes === undefined) return undefined;
  return {
    cpuCores: limits.cpuCores ?? 1024,
    // 8 EiB-ish would be rejected by validateBudget as unsafe; use a page-aligned large value.
    memoryBytes: limits.memoryBytes ?? 2 ** 52,
  };
}

export async function startContainer(options: StartContainerOptions): Promise<ContainerProcess> {
  let group: CgroupGroup | undefined;
  if (options.layout) {
    group = await createGroup(options.layout, options.groupName);
    try {
      const budget = budgetOf(options.limits);
      if (budget) {
        const writes = limitWrites(group.version, budget, { swapLimit: await hasSwapLimit(group) }).filter(
          (w) =>
            (options.limits.cpuCores !== undefined || w.controller !== 'cpu') &&
            (options.limits.memoryBytes !== undefined || w.controller !== 'memory'),
        );
        await writeLimits(group, writes);
      }
    } catch (err) {
      await removeGroup(group).catch(() => {});
      throw err;
    }
  }
  const drop =
    options.runAsUser !== undefined
      ? [
          'setpriv',
          `--reuid=${options.runAsUser}`,
          `--regid=${options.runAsGroup ?? options.runAsUser}`,
          '--clear-groups',
          '--',
        ]
      : [];
  const argv = group
    ? ['/bin/sh', '-c', ENTER_SCRIPT, 'conclab-enter', ...procsFiles(group), '--', ...drop, ...options.argv]
    : [...drop, ...options.argv];
  const [file, ...args] = argv;
  const fd = openSync(options.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(file as string, args, {
      env: options.env,
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  let done = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    const finish = async (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      let oomKilled = false;
      if (group) {
        oomKilled = !!(await readGroupUsage(group).catch(() => undefined))?.oomKills;
        await removeGroup(group).catch(() => {});
      } else if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Group gone.
        }
      }
      const signo = signalNumber(signal);
      resolve({
        exitCode: code ?? (signo !== undefined ? 128 + signo : 255),
        ...(signo !== undefined ? { signal: signo } : {}),
        oomKilled,
      });
    };
    child.once('exit', (code, signal) => void finish(code, signal));
    child.once('error', () => void finish(127, null));
  });
  return {
    pid: child.pid ?? -1,
    group,
    exited,
    hasExited: () => done,
    signal: (signal) => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, signal);
        } catch {
          // Already gone.
        }
      }
      if (signal === 'SIGKILL' && group) {
        void listGroupPids(group).then((pids) => signalPids(pids, 'SIGKILL'));
      }
    },
  };
}
