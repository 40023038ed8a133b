// Pure: what successive polls of one replica's supervisor (GET /stats, operator/contracts/
// supervisor.ts) say happened, and what the variant used between two moments. The trial
// runner polls every replica the same way for a local process and for a pod, so workload
// events, restarts, cold starts and resource usage are read by one code path in both
// placements.
//
// Usage accounting: counters are cumulative per cgroup (or per process tree). A local restart
// re-enters the same group (same cgroupId: the counters continue), a restarted container gets
// a new cgroup (new cgroupId: its counters start at 0). So usage over a window is, per
// cgroupId seen, its last reading minus its reading at the window's start (0 for a group born
// during the window). A group that died between two polls loses at most one poll interval of
// CPU: the result then says so in `approximate`.
import type { ResourceUsage, WorkloadEvent } from '../contracts/records.ts';
import type { CgroupUsage, SupervisorEvent, SupervisorStats } from '../contracts/supervisor.ts';

/** One poll: the stats, or why the admin endpoint did not answer. */
export type Poll = { stats: SupervisorStats } | { down: 'refused' | 'unresponsive'; error: string };

/** A reading of one cgroup (or process tree) at one moment. */
export interface UsageReading {
  cgroupId: string;
  atMillis: number;
  usage: CgroupUsage;
}

export interface ReplicaState {
  replica: number;
  /** pid of the supervisor last seen answering. */
  pid: number | undefined;
  /**
   * Which supervisor process that was: its pid and its start time. In a container the
   * supervisor is PID 1 in every incarnation, so a restart shows only in the start time.
   */
  incarnation: string | undefined;
  /** Next event seq to ask for (the supervisor's nextSeq). */
  nextSeq: number;
  lastAliveMillis: number | undefined;
  /** The admin endpoint refused connections (process gone) or timed out (hung) since lastAlive. */
  down: 'refused' | 'unresponsive' | undefined;
  /** A new pid answered but is not ready yet: its restart event waits for readyAtMillis. */
  pendingRestart: { incarnation: string; lastAliveMillis: number | undefined } | undefined;
  /** Latest reading per cgroupId, in first-seen order. */
  readings: Map<string, UsageReading>;
  last: SupervisorStats | undefined;
}

export function initialState(replica: number): ReplicaState {
  return {
    replica,
    pid: undefined,
    incarnation: undefined,
    nextSeq: 0,
    lastAliveMillis: undefined,
    down: undefined,
    pendingRestart: undefined,
    readings: new Map(),
    last: undefined,
  };
}

/** The supervisor process as a unique name: pid and start time (a container's is always PID 1). */
export function incarnationOf(stats: SupervisorStats): string {
  return `${stats.pid}@${Math.round(stats.startedAtMillis)}`;
}

function cgroupIdOf(stats: SupervisorStats): string {
  return stats.usage?.cgroupId ?? `process-tree:${incarnationOf(stats)}`;
}

/** The engine's view of one supervisor event; fault acknowledgements are the runner's own record. */
export function toWorkloadEvent(e: SupervisorEvent, replica: number): WorkloadEvent | undefined {
  const base = { atMillis: e.atMillis, replica, ...(e.detail ? { detail: e.detail } : {}) };
  switch (e.kind) {
    case 'worker-exit':
      return {
        ...base,
        kind: 'worker-exit',
        ...(e.worker !== undefined ? { worker: e.worker } : {}),
        ...(e.pid !== undefined ? { pid: e.pid } : {}),
        ...(e.exit ? { exit: e.exit } : {}),
      };
    case 'worker-replaced':
      return {
        ...base,
        kind: 'worker-replaced',
        ...(e.worker !== undefined ? { worker: e.worker } : {}),
        ...(e.pid !== undefined ? { pid: e.pid } : {}),
        ...(e.coldStartMillis !== undefined ? { coldStartMillis: e.coldStartMillis } : {}),
      };
    case 'not-ready':
      // The supervisor answered this event, so its process is up: a not-ready from it always
      // names a worker (-1: unknown), never the whole process.
      return { ...base, kind: 'not-ready', worker: e.worker ?? -1 };
    case 'ready':
      return { ...base, kind: 'ready' };
    default:
      return undefined;
  }
}

/**
 * Folds one poll into the state of a replica; returns the events it reveals. `atMillis` is
 * when the poll was answered (or failed).
 */
export function observe(state: ReplicaState, poll: Poll, atMillis: number): WorkloadEvent[] {
  const replica = state.replica;
  const events: WorkloadEvent[] = [];
  if ('down' in poll) {
    if (state.pid !== undefined && state.down === undefined) {
      // Only a refused connection means the process is gone; a timeout may be a stalled
      // supervisor (a CPython hang under threads stalls the admin thread through the GIL).
      if (poll.down === 'refused') {
        events.push({ atMillis, replica, kind: 'not-ready', detail: `admin endpoint refused: ${poll.error}` });
      }
    }
    if (state.pid !== undefined)
      state.down = poll.down === 'refused' || state.down === 'refused' ? 'refused' : 'unresponsive';
    return events;
  }
  const stats = poll.stats;
  const incarnation = incarnationOf(stats);
  if (state.incarnation !== undefined && incarnation !== state.incarnation) {
    // A new process answers: the old one ended (a container or local restart).
    if (state.down === undefined) {
      events.push({
        atMillis,
        replica,
        kind: 'not-ready',
        detail: `supervisor ${state.incarnation} replaced by ${incarnation}`,
      });
    }
    state.pendingRestart = { incarnation, lastAliveMillis: state.lastAliveMillis };
    state.nextSeq = 0;
  } else if (state.down !== undefined) {
    // The same process answers again (it was stalled, not gone).
    events.push({ atMillis, replica, kind: 'ready', detail: `pid ${stats.pid} answering again` });
  }
  state.down = undefined;
  const fresh = stats.events.items.filter((e) => e.seq >= state.nextSeq);
  for (const e of fresh) {
    const event = toWorkloadEvent(e, replica);
    if (event) events.push(event);
  }
  state.nextSeq = Math.max(state.nextSeq, stats.events.nextSeq);
  const pending = state.pendingRestart;
  if (pending && pending.incarnation === incarnation && stats.readyAtMillis !== null) {
    const readyAt = stats.readyAtMillis;
    events.push({
      atMillis: readyAt,
      replica,
      kind: 'process-restart',
      pid: stats.pid,
      coldStartMillis: Math.max(0, readyAt - stats.startedAtMillis),
      ...(pending.lastAliveMillis !== undefined ? { downMillis: Math.max(0, readyAt - pending.lastAliveMillis) } : {}),
    });
    state.pendingRestart = undefined;
  }
  state.pid = stats.pid;
  state.incarnation = incarnation;
  state.lastAliveMillis = atMillis;
  state.last = stats;
  if (stats.usage) state.readings.set(cgroupIdOf(stats), { cgroupId: cgroupIdOf(stats), atMillis, usage: stats.usage });
  return events.sort((a, b) => a.atMillis - b.atMillis);
}

/** A replica whose process is gone (refused) or restarting, with no ready successor yet. */
export function restartPending(state: ReplicaState): boolean {
  return state.down === 'refused' || state.pendingRestart !== undefined;
}

/** Work requests the replica's workers have counted (cumulative over the supervisor process). */
export function requestsServed(stats: SupervisorStats): number {
  return stats.workers.reduce((n, w) => n + w.requests, 0);
}

export interface WindowStart {
  readings: Map<string, UsageReading>;
  /** The supervisor process (pid and start time) and its request count at the start. */
  incarnation: string | undefined;
  requests: number;
  contextSwitches: SupervisorStats['contextSwitches'];
}

export function windowStart(state: ReplicaState): WindowStart {
  return {
    readings: new Map(state.readings),
    incarnation: state.incarnation,
    requests: state.last ? requestsServed(state.last) : 0,
    contextSwitches: state.last?.contextSwitches ?? null,
  };
}

/** Requests the replica received between the window start and now (server side). */
export function requestsDuring(start: WindowStart, state: ReplicaState): number | undefined {
  if (!state.last) return undefined;
  const now = requestsServed(state.last);
  // A restarted supervisor counts from 0 (the old process's count died with it).
  return state.incarnation === start.incarnation ? Math.max(0, now - start.requests) : now;
}

/**
 * Usage of all replicas between their window starts and their latest readings: counters as
 * differences per cgroup, peak memory as the largest group peak per replica, summed over
 * replicas. Undefined when no replica reported usage.
 */
export function usageDuring(
  replicas: readonly { start: WindowStart; state: ReplicaState }[],
  restarts: number,
): ResourceUsage | undefined {
  let cpuSeconds = 0;
  let throttledPeriods = 0;
  let throttledSeconds = 0;
  let peakMemoryBytes = 0;
  let oomKills = 0;
  let oomKnown = false;
  let any = false;
  const approximate: string[] = [];
  const sources = new Set<string>();
  let limits: ResourceUsage['limits'] | undefined;
  let voluntary = 0;
  let involuntary = 0;
  let runQueue = 0;
  let switchesKnown = false;
  let runQueueKnown = true;
  for (const { start, state } of replicas) {
    let replicaPeak = 0;
    const groups = [...state.readings.values()];
    for (const r of groups) {
      any = true;
      const before = start.readings.get(r.cgroupId)?.usage;
      cpuSeconds += Math.max(0, r.usage.cpuSeconds - (before?.cpuSeconds ?? 0));
      throttledPeriods += Math.max(0, r.usage.throttledPeriods - (before?.throttledPeriods ?? 0));
      throttledSeconds += Math.max(0, r.usage.throttledSeconds - (before?.throttledSeconds ?? 0));
      replicaPeak = Math.max(replicaPeak, r.usage.peakMemoryBytes);
      if (r.usage.oomKills !== undefined) {
        oomKnown = true;
        oomKills += Math.max(0, r.usage.oomKills - (before?.oomKills ?? 0));
      }
      // The kind of counters, without the per-replica paths.
      sources.add(r.usage.source.replace(/ at .*$/, '').trim());
      if (!limits && r.usage.limits) limits = r.usage.limits;
    }
    peakMemoryBytes += replicaPeak;
    const current = state.last ? cgroupIdOf(state.last) : undefined;
    if (groups.some((g) => g.cgroupId !== current)) {
      approximate.push(
        `replica ${state.replica}: a restarted container's earlier cgroup is counted up to its last reading (at most one poll interval of CPU is missing)`,
      );
    }
    if (groups.some((g) => g.cgroupId.startsWith('process-tree:'))) {
      approximate.push(`replica ${state.replica}: no cgroup of its own: CPU and memory from the process tree in /proc`);
    }
    const endSwitches = state.last?.contextSwitches;
    if (endSwitches && start.contextSwitches && state.incarnation === start.incarnation) {
      switchesKnown = true;
      const dv = endSwitches.voluntary - start.contextSwitches.voluntary;
      const di = endSwitches.involuntary - start.contextSwitches.involuntary;
      if (dv < 0 || di < 0)
        approximate.push(`replica ${state.replica}: context switches of replaced worker processes are lost`);
      voluntary += Math.max(0, dv);
      involuntary += Math.max(0, di);
      if (endSwitches.runQueueWaitSeconds !== undefined && start.contextSwitches.runQueueWaitSeconds !== undefined) {
        runQueue += Math.max(0, endSwitches.runQueueWaitSeconds - start.contextSwitches.runQueueWaitSeconds);
      } else runQueueKnown = false;
    }
  }
  if (!any) return undefined;
  return {
    source: [...sources].join('; '),
    cpuSeconds,
    throttledPeriods,
    throttledSeconds,
    peakMemoryBytes,
    limits: limits ?? { cpuCores: 0, memoryBytes: 0, source: 'no limits read back' },
    restarts,
    ...(oomKnown ? { oomKills } : {}),
    ...(switchesKnown
      ? {
          contextSwitches: {
            voluntary,
            involuntary,
            ...(runQueueKnown ? { runQueueWaitSeconds: runQueue } : {}),
          },
        }
      : {}),
    ...(approximate.length ? { approximate: approximate.join('; ') } : {}),
  };
}

/**
 * A worker that exited and that the supervisor will replace (replaceWorkers), not replaced
 * yet: the runner waits for it, so the replacement and its cold start are on record.
 */
export function replacementPending(events: readonly WorkloadEvent[], replaceWorkers: boolean): boolean {
  if (!replaceWorkers) return false;
  const open = new Set<string>();
  for (const e of [...events].sort((a, b) => a.atMillis - b.atMillis)) {
    const key = `${e.replica ?? 0}/${e.worker}`;
    if (e.kind === 'worker-exit') open.add(key);
    else if (e.kind === 'worker-replaced') open.delete(key);
    // A restart of the whole process brings every worker back.
    else if (e.kind === 'process-restart')
      for (const k of [...open]) if (k.startsWith(`${e.replica ?? 0}/`)) open.delete(k);
  }
  return open.size > 0;
}
