// The local runtime: each variant's workload runs as local processes inside a cgroup of its own
// that carries the experiment's CPU quota and memory limit, created fresh for every trial.
//
// Lifecycle of one trial: create the group, write the limits and read them back (the report
// compares what the kernel holds, not what was asked), start the workload through a tiny shell
// that puts its own pid into the group and then execs the workload (so the workload, its
// children and threads never run a single instruction outside the group), wait for its ready
// line, restart it in the same group on the same ports if it dies (as a container runtime
// would), then SIGTERM, SIGKILL whatever is left in the group, and remove the group. Usage is
// not read here: the workload's supervisor reports its own group's counters in GET /stats
// (CONCLAB_OWN_CGROUP=true), which the trial runner reads the same way as in a pod.
//
// Groups a killed earlier run left behind (their owner pid and start time match no live
// process) are removed at the first start of a runtime, before anything of this run exists.
// A workload that cannot start under the memory budget is reported as out of memory, with
// the smallest budget that would start it, measured by one start without the memory limit.
//
// Where cgroups cannot be written, the runtime pins workloads to CPUs instead and says so
// loudly in `warnings`, which go into the report: budgets are then approximate.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { budgetOf } from '../../api/sweep.ts';
import { parseCpuCores, parseMemoryBytes } from '../../api/units.ts';
import type { WorkloadEvent } from '../../contracts/records.ts';
import type { DeployedWorkload, Runtime, WorkloadLaunch } from '../types.ts';
import { OWNED_OTEL_VARIABLES, workloadEnv } from '../workload-env.ts';
import { type CpuPlacement, formatCpuList, pinProcess, planCpuPlacement, readAffinity } from './affinity.ts';
import { type CgroupLayout, readCgroupLayout } from './cgroup-detect.ts';
import {
  type CgroupGroup,
  createGroup,
  groupFromName,
  groupName,
  hasSwapLimit,
  listConclabGroups,
  listGroupPids,
  liveOtherOwners,
  parentDirs,
  parseGroupOwner,
  procsFiles,
  readGroupLimits,
  readGroupUsage,
  removeGroup,
  runtimePrefix,
  signalPids,
  sweepStaleGroups,
  type UsableLayout,
  writeLimits,
} from './cgroup-group.ts';
import { type Budget, limitWrites, type ReadLimits, validateBudget } from './cgroup-limits.ts';
import { freePorts } from './free-port.ts';
import { descendants, processStartTicks } from './process-tree.ts';
import {
  describeExit,
  type ExitStatus,
  launchWorkload,
  type ObservedLine,
  type RunningWorkload,
  signalWorkloadGroup,
} from './workload-process.ts';

export type { CpuPlacement } from './affinity.ts';
export type { Budget } from './cgroup-limits.ts';
export type { ObservedLine } from './workload-process.ts';

export interface LocalRuntimeOptions {
  /**
   * Command that starts one workload; default by spec.workload.runtime: this Node (process.execPath)
   * running workloads/node/main.ts, or `python3 workloads/python/main.py`.
   */
  workloadCommand?: string[];
  /** Interpreter for runtime: python (default python3 on PATH); see python-env.ts. */
  python?: string;
  /** Working directory of the workload; default: the repository root. */
  cwd?: string;
  /** How long a workload may take to print its ready line. Default 30000. */
  readyTimeoutMillis?: number;
  /** Time between SIGTERM and SIGKILL on stop (the workload drains and flushes spans). Default 5000. */
  stopGraceMillis?: number;
  /** Restarts of a dead workload process per trial before giving up. Default 5. */
  maxRestarts?: number;
  /** Pause before a restart. Default 100. */
  restartDelayMillis?: number;
  /** Skip cgroups and use the CPU affinity fallback even where cgroups work (tests). */
  forceAffinityFallback?: boolean;
  /** Path under each hierarchy's mount point to create groups in (a delegated subtree); default: the mount point. */
  cgroupParent?: string;
  /** Use this layout instead of detecting one (tests with a FAKE cgroupfs). */
  layout?: CgroupLayout;
  /** CPUs to place workloads and the load generator on; default: this process's affinity. */
  cpus?: number[];
  /** Budget from the launch; default: spec.resources parsed with api/units.ts. */
  budget?: (launch: WorkloadLaunch) => Budget;
  /** Extra environment for every workload (after the inherited one, before the workload's own). */
  env?: Record<string, string>;
  /** The user's environment: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES are honoured. Default process.env. */
  userEnv?: Record<string, string | undefined>;
}

/** The Runtime contract plus what the local runtime can tell beyond it. */
export interface LocalRuntime extends Runtime {
  /** 'v1' | 'v2' when limits are enforced by cgroups, 'none' in the affinity fallback. */
  readonly cgroupVersion: 'v1' | 'v2' | 'none';
  /** Every stdout JSON line of the workload and the runtime's own lines (process-exit, process-restart). */
  observedLines(deployed: DeployedWorkload): ObservedLine[];
  /** The cgroups of a deployment (one per replica); empty in the fallback. */
  groups(deployed: DeployedWorkload): CgroupGroup[];
  /** Limits written and read back from the first replica's group (the workload reports them too, in /stats). */
  limits(deployed: DeployedWorkload): ReadLimits | undefined;
  /** Current pids of the workload's root processes, one per replica. */
  rootPids(deployed: DeployedWorkload): number[];
  /**
   * Pins a process (default: this one, which runs the load driver) to CPUs that workloads do not
   * use, when the machine has one to spare for the given CPU budget; otherwise adds a warning.
   * With several load generators it keeps up to one CPU each (as many as the budget spares);
   * the placement's driverCpus are where the generator processes go (loadDriverFor's cpus).
   */
  pinLoadGenerator(cpuCores: number, pid?: number, generators?: number): Promise<CpuPlacement>;
  /**
   * Removes the groups of runs that are gone (owner pid and start time match no live process),
   * killing what is left in them; returns their names. start() does it once by itself.
   */
  sweepLeftovers(): Promise<string[]>;
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEFAULT_ENTRY = path.join(REPO_ROOT, 'workloads/node/main.ts');
const PYTHON_ENTRY = path.join(REPO_ROOT, 'workloads/python/main.py');

/**
 * The default workload command for a launch's language runtime. `python`: the interpreter
 * for runtime: python (a prepared environment with the OpenTelemetry SDK, see python-env.ts;
 * default python3 on PATH, which serves untraced without the SDK).
 */
export function defaultWorkloadCommand(launch: WorkloadLaunch, python = 'python3'): string[] {
  return launch.experiment.spec.workload.runtime === 'python'
    ? [python, PYTHON_ENTRY]
    : [process.execPath, DEFAULT_ENTRY];
}
const MAX_OBSERVED_LINES = 10_000;

// Joins every hierarchy (one cgroup.procs per argument before "--"), then becomes the workload.
// Exit code 97 means the shell could not join the group; its stderr says why.
const ENTER_SCRIPT =
  'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"';

interface Replica {
  index: number;
  group: CgroupGroup | undefined;
  port: number;
  adminPort: number;
  proc: RunningWorkload | undefined;
  restarts: number;
  /** Settles when a restart in progress is done (or gave up). */
  restarting: Promise<void> | undefined;
  /** The group's OOM-kill counter when last read, to tell whether an exit was an OOM kill. */
  oomKillsSeen: number;
}

interface Deployment {
  label: string;
  launch: WorkloadLaunch;
  /** Inherited environment; the workload's own (workloadEnv, per replica) goes on top. */
  env: Record<string, string>;
  /** Set by the runtime over the workload's own variables (shutdown bound, heap cap). */
  overrides: Record<string, string>;
  replicas: Replica[];
  lines: ObservedLine[];
  events: WorkloadEvent[];
  limits: ReadLimits | undefined;
  stopping: boolean;
  /** Aborted on stop, so a restart waiting for its ready line does not hold the stop up. */
  abort: AbortController;
}

type Mode = { kind: 'cgroup'; layout: UsableLayout } | { kind: 'affinity'; reason: string };

function affinityWarning(reason: string): string {
  return (
    `LIMITS NOT ENFORCED: cgroup CPU and memory limits could not be applied (${reason}). ` +
    'conclab fell back to CPU affinity: each workload is pinned to floor(cpu) CPUs (at least one), so CPU budgets are ' +
    'approximate (fractions of a core cannot be expressed, and nothing is throttled), and memory limits are NOT enforced ' +
    "(only the workload's heap flag, best effort). Peak memory and CPU time come from /proc and are approximate. " +
    'Fix: run conclab as root on a host with writable cgroups (v2 with the cpu and memory controllers, or v1 cpu, ' +
    'cpuacct and memory), or give it a delegated writable cgroup with the cgroupParent option.'
  );
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * A memory budget that starts a workload measured at `peakBytes` before ready: 10% headroom,
 * rounded up to 16 MiB, and always above the budget that failed.
 */
export function suggestMemory(peakBytes: number, failedBytes: number): string {
  const step = 16 * 1048576;
  const up = (n: number) => Math.ceil(n / step) * step;
  let bytes = up(peakBytes * 1.1);
  if (bytes <= failedBytes) bytes = up(failedBytes * 1.5);
  return `${bytes / 1048576}Mi`;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? '';
}

/** Proves that groups can be made where the runtime will make them; returns why not otherwise. */
function probeCgroups(layout: UsableLayout, prefix: string, cgroupParent: string): string | undefined {
  const parents = [...new Set(Object.values(parentDirs(layout, cgroupParent)))];
  if (layout.version === 'v2') {
    const parent = parents[0]!;
    try {
      const enabled = readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
      const missing = ['cpu', 'memory'].filter((c) => !enabled.includes(c));
      if (missing.length > 0)
        writeFileSync(path.join(parent, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    } catch (err) {
      return `cannot enable the cpu and memory controllers for children of ${parent}: ${(err as Error).message}`;
    }
  }
  const made: string[] = [];
  try {
    for (const p of parents) {
      const d = path.join(p, `${prefix}probe`);
      mkdirSync(d);
      made.push(d);
    }
    return undefined;
  } catch (err) {
    const code = errorCode(err);
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied: not root and no delegated cgroup'
        : code === 'EROFS'
          ? 'the cgroup filesystem is read-only'
          : (err as Error).message;
    return `cannot create a cgroup under ${parents.join(', ')}: ${why}`;
  } finally {
    for (const d of made) {
      try {
        rmdirSync(d);
      } catch {
        // Best effort: cleanup() removes it later by prefix.
      }
    }
  }
}

function defaultBudget(launch: WorkloadLaunch): Budget {
  // The variant's budget: spec.resources, or a sweep point's own CPU (api/sweep.ts).
  const r = budgetOf(launch.experiment.spec, launch.variant);
  const parse = <T>(field: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw new Error(`spec.resources.${field}: ${(err as Error).message}`);
    }
  };
  return {
    cpuCores: parse('cpu', () => parseCpuCores(r.cpu)),
    memoryBytes: parse('memory', () => parseMemoryBytes(r.memory)),
  };
}

// The parent's own CONCLAB_* settings and the OTEL_* variables conclab sets itself must not
// leak into a workload; the user's other OTEL_* settings (batching, timeouts) pass through.
const OWNED_OTEL = new Set<string>(OWNED_OTEL_VARIABLES);
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('CONCLAB_') && !OWNED_OTEL.has(k)) env[k] = v;
  }
  return env;
}

export function createLocalRuntime(options: LocalRuntimeOptions = {}): LocalRuntime {
  const runtimeId = randomBytes(3).toString('hex');
  const ownerStartTicks = processStartTicks(process.pid);
  const prefix = runtimePrefix(process.pid, runtimeId, ownerStartTicks);
  const cgroupParent = options.cgroupParent ?? '';
  const readyTimeoutMillis = options.readyTimeoutMillis ?? 30_000;
  const stopGraceMillis = options.stopGraceMillis ?? 5_000;
  const maxRestarts = options.maxRestarts ?? 5;
  const restartDelayMillis = options.restartDelayMillis ?? 100;
  const budgetOf = options.budget ?? defaultBudget;
  const cpus = options.cpus ?? readAffinity();
  const warnings: string[] = [];
  const warn = (w: string) => {
    if (!warnings.includes(w)) warnings.push(w);
  };

  let mode: Mode;
  if (options.forceAffinityFallback) {
    mode = { kind: 'affinity', reason: 'forced by the forceAffinityFallback option' };
  } else {
    const layout = options.layout ?? readCgroupLayout();
    if (layout.version === 'none') {
      mode = { kind: 'affinity', reason: layout.reason };
    } else {
      const problem = probeCgroups(layout, prefix, cgroupParent);
      mode = problem ? { kind: 'affinity', reason: problem } : { kind: 'cgroup', layout };
    }
  }
  if (mode.kind === 'affinity') warn(affinityWarning(mode.reason));

  const deployments = new Map<DeployedWorkload, Deployment>();
  const createdGroups = new Set<CgroupGroup>();

  // A crash of conclab must not leave workloads running: on exit (also after an uncaught
  // exception) kill every workload synchronously. The groups themselves are removed by the
  // next runtime's first start(), which recognises them by their dead owner.
  const onExit = () => {
    for (const d of deployments.values()) {
      for (const r of d.replicas) {
        if (r.proc) signalWorkloadGroup(r.proc.pid, 'SIGKILL');
        for (const file of r.group ? procsFiles(r.group) : []) {
          try {
            signalPids(readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number), 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
      }
    }
  };
  let exitHooked = false;
  const hookExit = (on: boolean) => {
    if (on && !exitHooked) process.on('exit', onExit);
    if (!on && exitHooked) process.removeListener('exit', onExit);
    exitHooked = on;
  };

  function record(d: Deployment, line: ObservedLine): void {
    if (d.lines.length < MAX_OBSERVED_LINES) d.lines.push(line);
  }

  function argvFor(replica: Replica, placement: CpuPlacement, launchSpec: WorkloadLaunch): string[] {
    const argvBase = options.workloadCommand ?? defaultWorkloadCommand(launchSpec, options.python);
    const pin = placement.workloadCpus ? ['taskset', '-c', formatCpuList(placement.workloadCpus)] : [];
    if (replica.group)
      return ['/bin/sh', '-c', ENTER_SCRIPT, 'conclab-enter', ...procsFiles(replica.group), '--', ...pin, ...argvBase];
    return [...pin, ...argvBase];
  }

  async function launch(
    d: Deployment,
    replica: Replica,
    argv: string[],
    onLine: (l: ObservedLine) => void = (l) => record(d, l),
  ): Promise<RunningWorkload> {
    const env = {
      ...d.env,
      ...workloadEnv(d.launch, { replica: replica.index, userEnv: options.userEnv ?? process.env }),
      ...d.overrides,
      CONCLAB_PORT: String(replica.port),
      CONCLAB_ADMIN_PORT: String(replica.adminPort),
      // The supervisor reports this group's counters: it is the replica's alone.
      ...(replica.group ? { CONCLAB_OWN_CGROUP: 'true' } : {}),
    };
    const label = d.replicas.length > 1 ? `${d.label} replica ${replica.index}` : d.label;
    return launchWorkload({
      argv,
      env,
      cwd: options.cwd ?? REPO_ROOT,
      label,
      readyTimeoutMillis,
      onLine,
      signal: d.abort.signal,
    });
  }

  /** Whether the group's OOM killer struck since the last look (v1 oom_kill, v2 memory.events). */
  async function oomKilledSince(replica: Replica): Promise<boolean> {
    if (!replica.group) return false;
    try {
      const { oomKills } = await readGroupUsage(replica.group);
      const struck = oomKills > replica.oomKillsSeen;
      replica.oomKillsSeen = oomKills;
      return struck;
    } catch {
      return false;
    }
  }

  async function killLeftovers(replica: Replica): Promise<void> {
    if (replica.proc) signalWorkloadGroup(replica.proc.pid, 'SIGKILL');
    if (!replica.group) return;
    for (let i = 0; i < 100; i++) {
      const pids = await listGroupPids(replica.group);
      if (pids.length === 0) return;
      signalPids(pids, 'SIGKILL');
      await sleep(20);
    }
  }

  // A dead workload is restarted in the same group on the same ports, like a container
  // runtime restarts a container; the engine keeps its URLs and learns of it from events().
  function watch(d: Deployment, replica: Replica, proc: RunningWorkload, argv: string[]): void {
    proc.exited.then((status: ExitStatus) => {
      if (d.stopping || replica.proc !== proc) return;
      replica.restarting = (async () => {
        const exitedAt = Date.now();
        record(d, {
          atMillis: exitedAt,
          event: 'process-exit',
          fields: { event: 'process-exit', code: status.code, signal: status.signal, replica: replica.index },
        });
        const oomKilled = await oomKilledSince(replica);
        const exit: WorkloadEvent = {
          atMillis: exitedAt,
          kind: 'process-exit',
          replica: replica.index,
          exit: oomKilled ? 'OOMKilled' : describeExit(status),
          oomKilled,
          detail: `workload process ${describeExit(status)}${oomKilled ? " (the kernel's OOM killer: the memory limit was reached)" : ''}`,
        };
        d.events.push(exit);
        await killLeftovers(replica);
        while (!d.stopping) {
          if (replica.restarts >= maxRestarts) {
            exit.restarting = false;
            d.events.push({
              atMillis: Date.now(),
              kind: 'process-exit',
              replica: replica.index,
              restarting: false,
              detail: `gave up after ${maxRestarts} restarts`,
            });
            replica.proc = undefined;
            return;
          }
          replica.restarts++;
          await sleep(restartDelayMillis);
          if (d.stopping) return;
          try {
            const next = await launch(d, replica, argv);
            if (d.stopping) {
              signalWorkloadGroup(next.pid, 'SIGKILL');
              return;
            }
            replica.proc = next;
            const fields = {
              event: 'process-restart',
              replica: replica.index,
              coldStartMillis: Math.round(next.coldStartMillis),
              downMillis: Date.now() - exitedAt,
              previousExit: describeExit(status),
            };
            record(d, { atMillis: Date.now(), event: 'process-restart', fields });
            watch(d, replica, next, argv);
            return;
          } catch (err) {
            d.events.push({
              atMillis: Date.now(),
              kind: 'process-exit',
              replica: replica.index,
              detail: `restart failed: ${(err as Error).message}`,
            });
          }
        }
      })().finally(() => {
        replica.restarting = undefined;
      });
    });
  }

  let swept: Promise<string[]> | undefined;
  /** Load generators pinLoadGenerator kept CPUs for: workloads keep off the same CPUs. */
  let loadGenerators = 1;
  async function sweepDeadOwners(): Promise<string[]> {
    if (mode.kind !== 'cgroup') return [];
    return sweepStaleGroups(mode.layout, { cgroupParent }).catch(() => []);
  }

  /** Another live conclab's workloads on this machine share its CPUs: the report must say so. */
  const sharingWith = new Set<number>();
  function warnIfShared(): void {
    if (mode.kind !== 'cgroup') return;
    for (const other of liveOtherOwners(mode.layout, { cgroupParent, selfPid: process.pid })) {
      // Once per other process, naming what it ran when first seen.
      if (sharingWith.has(other.pid)) continue;
      sharingWith.add(other.pid);
      const names = [...new Set(other.groups.map((g) => parseGroupOwner(g)?.rest.replace(/-t\d+-[^-]*$/, '')))];
      warn(
        `MACHINE SHARED: another conclab process (pid ${other.pid}, workloads ${names.join(', ')}) ran workloads on ` +
          'this machine while this run measured: both compete for the same CPUs and memory bandwidth, so the figures ' +
          'of both are disturbed. Run one experiment at a time (conclab run waits for another conclab run by itself).',
      );
    }
  }

  /**
   * A workload killed before it was ready: when the group's OOM killer did it, say so (the exit
   * status alone says SIGKILL or "code 1"), and measure what it needs to start, by one start of
   * the same command without the memory limit (the CPU quota stays), to name the fix.
   */
  async function explainStartFailure(
    d: Deployment,
    replica: Replica,
    placement: CpuPlacement,
    budget: Budget,
    err: Error,
  ): Promise<Error> {
    if (mode.kind !== 'cgroup' || !replica.group) return err;
    const oomKills = await readGroupUsage(replica.group).then(
      (u) => u.oomKills,
      () => 0,
    );
    if (oomKills === 0) return err;
    const label = d.replicas.length > 1 ? `${d.label} replica ${replica.index}` : d.label;
    const what = err.message.startsWith(`${label}: `) ? err.message.slice(label.length + 2) : err.message;
    const asked = d.launch.experiment.spec.resources.memory;
    const head =
      `${label}: out of memory before it was ready: the kernel's OOM killer ended ${oomKills} ` +
      `process${oomKills === 1 ? '' : 'es'} of its cgroup at the memory limit of ${mib(budget.memoryBytes)} ` +
      `(spec.resources.memory: ${asked}); ${what.replace(/^the workload /, 'then the workload ')}.`;
    const peak = await startPeakWithoutMemoryLimit(d, placement, budget);
    if ('error' in peak) {
      return new Error(
        `${head} Without the memory limit it did not start either (${peak.error}), so memory is not the only problem. ` +
          `Fix: raise spec.resources.memory above ${asked} and check the workload's own errors.`,
      );
    }
    const fix = suggestMemory(peak.bytes, budget.memoryBytes);
    return new Error(
      `${head} Started without that limit it peaks at ${mib(peak.bytes)} before it is ready. ` +
        `Fix: raise spec.resources.memory to at least ${fix} (the budget every variant gets).`,
    );
  }

  /** Peak memory of one start up to the ready line, under the CPU quota but no memory limit that matters. */
  async function startPeakWithoutMemoryLimit(
    d: Deployment,
    placement: CpuPlacement,
    budget: Budget,
  ): Promise<{ bytes: number } | { error: string }> {
    if (mode.kind !== 'cgroup') return { error: 'no cgroup to measure in' };
    const [port, adminPort] = await freePorts(2);
    const probe: Replica = {
      index: 0,
      group: undefined,
      port: port!,
      adminPort: adminPort!,
      proc: undefined,
      restarts: 0,
      restarting: undefined,
      oomKillsSeen: 0,
    };
    // A bound all the same: half of this machine's memory (a workload that grows without end
    // at startup must not take the machine down while being measured).
    const cap = Math.floor(Math.min(os.totalmem() / 2, 64 * 2 ** 30) / 4096) * 4096;
    try {
      probe.group = await createGroup(
        mode.layout,
        groupName({
          ownerPid: process.pid,
          ...(ownerStartTicks !== undefined ? { ownerStartTicks } : {}),
          runtimeId,
          experiment: d.launch.experiment.metadata.name,
          variant: d.launch.variant.name,
          trial: d.launch.trial,
          suffix: `probe${randomBytes(3).toString('hex')}`,
        }),
        cgroupParent,
      );
      createdGroups.add(probe.group);
      await writeLimits(
        probe.group,
        limitWrites(
          mode.layout.version,
          { cpuCores: budget.cpuCores, memoryBytes: cap },
          { swapLimit: await hasSwapLimit(probe.group) },
        ),
      );
      const proc = await launch(d, probe, argvFor(probe, placement, d.launch), () => {});
      const { peakMemoryBytes } = await readGroupUsage(probe.group);
      signalWorkloadGroup(proc.pid, 'SIGKILL');
      await Promise.race([proc.exited, sleep(2000)]);
      return { bytes: peakMemoryBytes };
    } catch (err) {
      return { error: (err as Error).message };
    } finally {
      if (probe.group) {
        await removeGroup(probe.group).catch(() => {});
        createdGroups.delete(probe.group);
      }
    }
  }

  async function stopDeployment(d: Deployment): Promise<void> {
    d.stopping = true;
    d.abort.abort();
    const problems: string[] = [];
    await Promise.all(d.replicas.map((r) => r.restarting?.catch(() => {})));
    const running = d.replicas.filter((r) => r.proc && !r.proc.hasExited());
    for (const r of running) signalWorkloadGroup(r.proc!.pid, 'SIGTERM');
    await Promise.race([Promise.all(running.map((r) => r.proc!.exited)), sleep(stopGraceMillis)]);
    for (const r of d.replicas) {
      if (r.proc) {
        // Descendants that left the process group (setsid) are found through the tree.
        const strays = mode.kind === 'affinity' ? descendants(r.proc.pid).map((s) => s.pid) : [];
        signalWorkloadGroup(r.proc.pid, 'SIGKILL');
        signalPids(strays, 'SIGKILL');
        await Promise.race([r.proc.exited, sleep(2000)]);
      }
      if (r.group) {
        try {
          await removeGroup(r.group);
          createdGroups.delete(r.group);
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
    }
    if (problems.length > 0) throw new Error(`${d.label}: stop left things behind: ${problems.join('; ')}`);
  }

  const runtime: LocalRuntime = {
    name: mode.kind === 'cgroup' ? `local cgroup ${mode.layout.version}` : 'local affinity (limits not enforced)',
    cgroupVersion: mode.kind === 'cgroup' ? mode.layout.version : 'none',
    warnings,

    async start(launchSpec: WorkloadLaunch): Promise<DeployedWorkload> {
      const { experiment, variant, trial } = launchSpec;
      const label = `variant "${variant.name}" (trial ${trial})`;
      // Leftovers of a killed earlier run go before anything of this one exists.
      swept ??= sweepDeadOwners();
      await swept;
      hookExit(true);
      const budget = budgetOf(launchSpec);
      validateBudget(budget);
      const placement = planCpuPlacement({
        cpus,
        cpuCores: budget.cpuCores,
        mode: mode.kind,
        generators: loadGenerators,
      });
      for (const w of placement.warnings) warn(w);
      // Checked before anything starts: a bad duration fails here, naming the field.
      workloadEnv(launchSpec);
      const env: Record<string, string> = { ...inheritedEnv(), ...options.env };
      const overrides: Record<string, string> = {
        // The workload drains within our grace period, so SIGKILL stays the exception.
        CONCLAB_SHUTDOWN_TIMEOUT_MILLIS: String(Math.max(500, stopGraceMillis - 1000)),
      };
      if (mode.kind === 'affinity') {
        // Best effort only: a V8 heap cap per worker, not a limit on the process.
        overrides['CONCLAB_WORKER_HEAP_MB'] = String(
          Math.max(16, Math.floor(budget.memoryBytes / 1048576 / variant.workers)),
        );
      }
      const replicaCount = variant.replicas ?? 1;
      const ports = await freePorts(2 * replicaCount);
      const d: Deployment = {
        label,
        launch: launchSpec,
        env,
        overrides,
        replicas: [],
        lines: [],
        events: [],
        limits: undefined,
        stopping: false,
        abort: new AbortController(),
      };
      const deployed: DeployedWorkload = { variant: variant.name, trial, workUrls: [], adminUrls: [] };
      deployments.set(deployed, d);
      try {
        for (let i = 0; i < replicaCount; i++) {
          const replica: Replica = {
            index: i,
            group: undefined,
            port: ports[2 * i]!,
            adminPort: ports[2 * i + 1]!,
            proc: undefined,
            restarts: 0,
            restarting: undefined,
            oomKillsSeen: 0,
          };
          d.replicas.push(replica);
          if (mode.kind === 'cgroup') {
            const suffix = randomBytes(3).toString('hex');
            const name = groupName({
              ownerPid: process.pid,
              ...(ownerStartTicks !== undefined ? { ownerStartTicks } : {}),
              runtimeId,
              experiment: experiment.metadata.name,
              variant: variant.name,
              trial,
              suffix: `${i}${suffix}`,
            });
            replica.group = await createGroup(mode.layout, name, cgroupParent);
            createdGroups.add(replica.group);
            await writeLimits(
              replica.group,
              limitWrites(mode.layout.version, budget, { swapLimit: await hasSwapLimit(replica.group) }),
            );
            d.limits = await readGroupLimits(replica.group);
          }
          const argv = argvFor(replica, placement, launchSpec);
          const proc = await launch(d, replica, argv).catch(async (err: Error) => {
            throw await explainStartFailure(d, replica, placement, budget, err);
          });
          replica.proc = proc;
          if (proc.ready.port !== replica.port || proc.ready.adminPort !== replica.adminPort) {
            // The workload chose its own ports: follow it (a restart may then move the URL).
            replica.port = proc.ready.port;
            replica.adminPort = proc.ready.adminPort;
          }
          deployed.workUrls.push(`http://127.0.0.1:${replica.port}`);
          deployed.adminUrls.push(`http://127.0.0.1:${replica.adminPort}`);
          watch(d, replica, proc, argv);
        }
        warnIfShared();
        if (mode.kind === 'affinity') {
          const pinned = readAffinity(d.replicas[0]!.proc!.pid);
          d.limits = {
            cpuCores: pinned.length,
            memoryBytes: 0,
            source: `affinity (no quota): pinned to CPUs ${formatCpuList(pinned)}; memory not enforced (0 = none)`,
          };
        }
        return deployed;
      } catch (err) {
        await stopDeployment(d).catch(() => {});
        deployments.delete(deployed);
        throw err;
      }
    },

    limits(deployed: DeployedWorkload): ReadLimits | undefined {
      return deployments.get(deployed)?.limits;
    },

    events(deployed: DeployedWorkload): WorkloadEvent[] {
      return [...(deployments.get(deployed)?.events ?? [])].sort((a, b) => a.atMillis - b.atMillis);
    },

    observedLines(deployed: DeployedWorkload): ObservedLine[] {
      return [...(deployments.get(deployed)?.lines ?? [])];
    },

    groups(deployed: DeployedWorkload): CgroupGroup[] {
      return (deployments.get(deployed)?.replicas ?? []).flatMap((r) => (r.group ? [r.group] : []));
    },

    rootPids(deployed: DeployedWorkload): number[] {
      return (deployments.get(deployed)?.replicas ?? []).flatMap((r) =>
        r.proc && !r.proc.hasExited() ? [r.proc.pid] : [],
      );
    },

    async stop(deployed: DeployedWorkload): Promise<void> {
      const d = deployments.get(deployed);
      if (!d) return;
      try {
        await stopDeployment(d);
      } finally {
        deployments.delete(deployed);
      }
    },

    async cleanup(): Promise<void> {
      const problems: string[] = [];
      for (const [deployed, d] of [...deployments]) {
        await stopDeployment(d).catch((err: Error) => problems.push(err.message));
        deployments.delete(deployed);
      }
      if (mode.kind === 'cgroup') {
        const layout = mode.layout;
        // Ours by prefix, including any a failed start did not get to track.
        const mine = new Set([...createdGroups].map((g) => g.name));
        for (const name of listConclabGroups(layout, cgroupParent)) if (name.startsWith(prefix)) mine.add(name);
        for (const name of mine) {
          await removeGroup(groupFromName(layout, name, cgroupParent)).catch((err: Error) =>
            problems.push(err.message),
          );
        }
        createdGroups.clear();
        await sweepDeadOwners();
      }
      hookExit(false);
      if (problems.length > 0) throw new Error(`cleanup left things behind: ${problems.join('; ')}`);
    },

    async sweepLeftovers(): Promise<string[]> {
      swept ??= sweepDeadOwners();
      return swept;
    },

    async pinLoadGenerator(cpuCores: number, pid: number = process.pid, generators = 1): Promise<CpuPlacement> {
      loadGenerators = generators;
      const placement = planCpuPlacement({ cpus, cpuCores, mode: mode.kind, generators });
      for (const w of placement.warnings) warn(w);
      if (placement.driverCpus) await pinProcess(pid, placement.driverCpus);
      return placement;
    },
  };
  return runtime;
}
