// The admin contract of every workload's supervisor (workloads/node, workloads/python): what
// the trial runner reads, the same way for a local process and for a pod, because the
// supervisor is the one piece that is inside the variant's cgroup (container) and pid space
// in both placements. Both workloads honour it; test/workloads/ checks both against it.
//
//   GET  /healthz                    200 while the supervisor runs
//   GET  /readyz                     200 while every worker serves, else 503
//   GET  /stats[?since=SEQ][&detail=1]
//                                    SupervisorStats below. `since`: only events with seq >= SEQ
//                                    (the runner passes the nextSeq it last saw). `detail=1`: also
//                                    per-process memory (smaps_rollup; costs a page-table walk,
//                                    so the runner asks only at the start and end of a window)
//   POST /fault?kind=K&worker=I      202, then the fault goes to worker I only
//   POST /flush                      200 {flushed: true, workers: N} once every worker has handed
//                                    the spans it holds to the workload's one exporter (in the
//                                    supervisor; an export thread under offload) and that exporter
//                                    has exported them (bounded by ?timeoutMillis=, default 5000;
//                                    504 with done/failed/pending when the bound is hit)
//
// Imports nothing of the project (bottom layer).
import Type from 'typebox';
import Schema from 'typebox/schema';

const Num = (description: string) => Type.Number({ description });
const Int = (description: string) => Type.Integer({ description, minimum: 0 });
const Str = (description: string) => Type.String({ description });
const Bool = (description: string) => Type.Boolean({ description });
const Opt = Type.Optional;
const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const SUPERVISOR_EVENT_KINDS = ['worker-exit', 'worker-replaced', 'not-ready', 'ready', 'fault'] as const;
export type SupervisorEventKind = (typeof SUPERVISOR_EVENT_KINDS)[number];

export const SupervisorEvent = Type.Object({
  seq: Int('Sequence number, from 0 per supervisor process; a restarted process starts again at 0.'),
  atMillis: Num('Epoch ms, from the supervisor clock, when it happened.'),
  kind: Type.Unsafe<SupervisorEventKind>({ type: 'string', enum: [...SUPERVISOR_EVENT_KINDS] }),
  worker: Opt(
    Type.Integer({
      minimum: -1,
      description: 'Worker index; on not-ready the worker that stopped serving, -1 when unknown.',
    }),
  ),
  pid: Opt(Int('worker-replaced: pid of the new incarnation; worker-exit: pid that ended.')),
  threadId: Opt(Int('Thread id of the incarnation (0 under the process model).')),
  coldStartMillis: Opt(Num('worker-replaced: the replacement was spawned to serving, ms.')),
  exit: Opt(Str('worker-exit: "code 70", "signal SIGABRT", "error: ..." .')),
  faultKind: Opt(Str('fault: the kind sent to the worker.')),
  detail: Opt(Str('Free text.')),
});
export type SupervisorEvent = Type.Static<typeof SupervisorEvent>;

export const CgroupUsage = Type.Object({
  source: Str(
    'Which counters: "cgroup v1 cpuacct.usage, cpu.stat, memory.max_usage_in_bytes at PATH", "cgroup v2 ...", or "process tree (/proc; approximate)".',
  ),
  cgroupId: Opt(
    Str(
      'Identity of the cgroup read (path, plus inode where available): a restarted container has a new one, so counters restart at 0.',
    ),
  ),
  cpuSeconds: Num('Cumulative CPU time of the group since it was created, s.'),
  throttledPeriods: Int('Cumulative CFS periods throttled.'),
  throttledSeconds: Num('Cumulative time throttled, s.'),
  peakMemoryBytes: Num('Peak memory of the group since creation, bytes.'),
  oomKills: Opt(
    Int('Processes of the group the OOM killer ended (memory.oom_control oom_kill / memory.events oom_kill).'),
  ),
  limits: Nullable(
    Type.Object({
      cpuCores: Num('cpu.cfs_quota_us / cpu.cfs_period_us or cpu.max; 0 when unlimited.'),
      memoryBytes: Num('memory.limit_in_bytes or memory.max; 0 when unlimited.'),
      source: Str(
        'The files and the values read, e.g. "cgroup v1: cpu.cfs_quota_us=50000 cpu.cfs_period_us=100000 memory.limit_in_bytes=268435456".',
      ),
    }),
  ),
});
export type CgroupUsage = Type.Static<typeof CgroupUsage>;

export const SupervisorStats = Type.Object({
  model: Str('process, thread or offload.'),
  pid: Int('pid of the supervisor.'),
  replica: Opt(Int('CONCLAB_REPLICA, when set.')),
  port: Int('Work port.'),
  adminPort: Int('Admin port.'),
  ready: Bool('Every worker serves.'),
  startedAtMillis: Num('When this supervisor process started (process start, not ready).'),
  readyAtMillis: Nullable(Num('When it first became ready; null before.')),
  restarts: Int('Worker replacements so far.'),
  lostUpdates: Int('shared-state racy mode: attempts - value; 0 otherwise.'),
  sharedState: Nullable(Type.Object({ attempts: Int('Update attempts.'), value: Int('Value of the shared counter.') })),
  cpuIterationsPerMilli: Num('Calibration of the CPU kernel.'),
  workers: Type.Array(
    Type.Object({
      worker: Int('Index.'),
      pid: Int('pid (the supervisor pid under thread models).'),
      threadId: Int('Thread id (0 under the process model).'),
      requests: Int('Work requests served, cumulative over the slot (replacements included).'),
      errors: Int('Work requests that failed, cumulative over the slot.'),
      alive: Bool('Running.'),
      serving: Bool('Alive, listening and heartbeating.'),
      startedAt: Num('Epoch ms when this incarnation started.'),
      replacedCount: Int('Times the slot was replaced.'),
    }),
  ),
  events: Type.Object({
    nextSeq: Int('seq the next event will get: pass it as ?since= to see only newer ones.'),
    items: Type.Array(SupervisorEvent, { description: 'Events with seq >= since (at most the last 1,000 kept).' }),
    truncated: Opt(Bool('Some events asked for were no longer kept.')),
  }),
  usage: Nullable(CgroupUsage),
  contextSwitches: Nullable(
    Type.Object({
      voluntary: Int('Sum of voluntary_ctxt_switches of every thread of every live process of the workload.'),
      involuntary: Int('Sum of nonvoluntary_ctxt_switches.'),
      runQueueWaitSeconds: Opt(Num('Sum of /proc/PID/task/TID/schedstat run-queue wait, s.')),
      tasks: Int('Threads counted.'),
    }),
  ),
  processes: Opt(
    Type.Array(
      Type.Object({
        pid: Int('pid.'),
        role: Type.Unsafe<'supervisor' | 'worker' | 'process'>({
          type: 'string',
          enum: ['supervisor', 'worker', 'process'],
        }),
        worker: Opt(Int('Worker index of a worker process.')),
        rssBytes: Int('smaps_rollup Rss.'),
        pssBytes: Int('smaps_rollup Pss.'),
        ussBytes: Int('smaps_rollup Private_Clean + Private_Dirty.'),
      }),
      { description: 'Only with ?detail=1.' },
    ),
  ),
  host: Type.Object({
    hostname: Str('os hostname.'),
    cores: Int('CPUs this process may run on.'),
    cpuModel: Str('CPU model.'),
    kernel: Str('Kernel release.'),
    cgroupVersion: Type.Unsafe<'v1' | 'v2' | 'none'>({ type: 'string', enum: ['v1', 'v2', 'none'] }),
    runtime: Str('"node 24.21.0" or "cpython 3.11.2".'),
  }),
  tracing: Type.Object({
    enabled: Bool('Spans are exported.'),
    detail: Opt(Str('Why not, when disabled although asked for (e.g. the OpenTelemetry SDK is not installed).')),
    sampleRatio: Opt(Num('Ratio in force.')),
  }),
});
/** GET /stats of a workload supervisor. */
export type SupervisorStats = Type.Static<typeof SupervisorStats>;

export function supervisorStatsProblems(value: unknown): string[] {
  const [ok, errors] = Schema.Errors(SupervisorStats, value);
  if (ok) return [];
  return errors.slice(0, 10).map((e) => `${e.instancePath || '/'}: ${e.message}`);
}

/**
 * Environment variables the supervisor reads besides the workload's own (see workloads/node/README.md):
 *   CONCLAB_REPLICA       replica index, put on spans as conclab.replica and in /stats
 *   CONCLAB_RUN           run id, put on spans as conclab.run
 *   CONCLAB_OWN_CGROUP    "true": the cgroup the supervisor is in belongs to this workload alone
 *                         (a container, or the local runtime's per-replica group), so /stats
 *                         reports its counters; otherwise usage comes from the process tree and is
 *                         marked approximate.
 */
export const SUPERVISOR_ENV = ['CONCLAB_REPLICA', 'CONCLAB_RUN', 'CONCLAB_OWN_CGROUP'] as const;
