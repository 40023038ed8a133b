// TEST INFRASTRUCTURE. The kubelet's decisions as pure functions: whether a container restarts
// under the pod's restartPolicy, the crash-loop back-off, the pod phase, and the status object
// (phase, conditions, podIP, container states) the agent writes through pods/status.
import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export function restartPolicyOf(value: string | undefined): RestartPolicy {
  return value === 'OnFailure' || value === 'Never' ? value : 'Always';
}

/** Whether a container that exited with `exitCode` is started again. */
export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return exitCode !== 0;
  return false;
}

/**
 * Delay before restart number `restartCount + 1`, as the kubelet does it: the first restart is
 * immediate (no back-off entry yet), then initial, 2x, 4x ... capped at max.
 */
export function restartDelayMillis(restartCount: number, initialMillis: number, maxMillis: number): number {
  if (restartCount <= 0) return 0;
  return Math.min(maxMillis, initialMillis * 2 ** (restartCount - 1));
}

export interface Terminated {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerID: string;
}

export type ContainerStateView =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string; containerID: string }
  | { kind: 'terminated'; terminated: Terminated };

export interface ContainerView {
  name: string;
  image: string;
  imageID: string;
  state: ContainerStateView;
  lastTerminated?: Terminated;
  restartCount: number;
  ready: boolean;
  /** Terminated and will not run again (restartPolicy says so). */
  finished: boolean;
}

/** Reason of an exit the way the kubelet words it. */
export function exitReason(exitCode: number, oomKilled: boolean): string {
  if (oomKilled) return 'OOMKilled';
  return exitCode === 0 ? 'Completed' : 'Error';
}

export interface PodView {
  restartPolicy: RestartPolicy;
  initContainers: ContainerView[];
  containers: ContainerView[];
  /** Set when the pod cannot run at all here (unknown image, bad volume): phase Failed. */
  fatal?: { reason: string; message: string };
  podIP?: string;
  hostIP: string;
  startTime: string;
  /** Conditions' last transition times, kept stable across writes. */
  transitions: Map<string, { status: string; time: string }>;
  now: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export function podPhase(view: Pick<PodView, 'restartPolicy' | 'initContainers' | 'containers' | 'fatal'>): PodPhase {
  if (view.fatal) return 'Failed';
  const exitOf = (c: ContainerView) => (c.state.kind === 'terminated' ? c.state.terminated.exitCode : undefined);
  if (view.initContainers.some((c) => c.finished && exitOf(c) !== 0)) return 'Failed';
  if (!view.initContainers.every((c) => c.finished && exitOf(c) === 0)) return 'Pending';
  const cs = view.containers;
  if (cs.length > 0 && cs.every((c) => c.finished)) return cs.every((c) => exitOf(c) === 0) ? 'Succeeded' : 'Failed';
  const started = cs.some((c) => c.state.kind !== 'waiting' || c.restartCount > 0);
  return started ? 'Running' : 'Pending';
}

function apiTerminated(t: Terminated): V1ContainerState {
  return {
    terminated: {
      exitCode: t.exitCode,
      ...(t.signal !== undefined ? { signal: t.signal } : {}),
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      startedAt: t.startedAt as unknown as Date,
      finishedAt: t.finishedAt as unknown as Date,
      containerID: t.containerID,
    },
  };
}

function apiState(s: ContainerStateView): V1ContainerState {
  if (s.kind === 'waiting') return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
  if (s.kind === 'running') return { running: { startedAt: s.startedAt as unknown as Date } };
  return apiTerminated(s.terminated);
}

function apiContainerStatus(c: ContainerView): V1ContainerStatus {
  const containerID =
    c.state.kind === 'running'
      ? c.state.containerID
      : c.state.kind === 'terminated'
        ? c.state.terminated.containerID
        : undefined;
  return {
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    ...(containerID ? { containerID } : {}),
    ready: c.ready,
    started: c.state.kind === 'running',
    restartCount: c.restartCount,
    state: apiState(c.state),
    lastState: c.lastTerminated ? apiTerminated(c.lastTerminated) : {},
  };
}

/** The whole status object, as the agent writes it with a merge patch. */
export function buildPodStatus(view: PodView): V1PodStatus {
  const phase = podPhase(view);
  const initDone = view.initContainers.every(
    (c) => c.state.kind === 'terminated' && c.state.terminated.exitCode === 0 && c.finished,
  );
  const containersReady = view.containers.length > 0 && view.containers.every((c) => c.ready);
  const condition = (type: string, ok: boolean, reason?: string): V1PodCondition => {
    const status = ok ? 'True' : 'False';
    const prev = view.transitions.get(type);
    const time = prev && prev.status === status ? prev.time : view.now;
    view.transitions.set(type, { status, time });
    return {
      type,
      status,
      lastTransitionTime: time as unknown as Date,
      ...(!ok && reason ? { reason } : {}),
    };
  };
  const notReadyReason = phase === 'Succeeded' || phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady';
  const conditions = [
    condition('PodScheduled', true),
    condition('Initialized', initDone || view.initContainers.length === 0, 'ContainersNotInitialized'),
    condition('ContainersReady', containersReady && phase === 'Running', notReadyReason),
    condition('Ready', containersReady && phase === 'Running', notReadyReason),
  ];
  const status: V1PodStatus = {
    phase,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    startTime: view.startTime as unknown as Date,
    containerStatuses: view.containers.map(apiContainerStatus),
  };
  if (view.podIP) {
    status.podIP = view.podIP;
    status.podIPs = [{ ip: view.podIP }];
  }
  if (view.initContainers.length > 0) status.initContainerStatuses = view.initContainers.map(apiContainerStatus);
  if (view.fatal) {
    status.reason = view.fatal.reason;
    status.message = view.fatal.message;
  }
  return status;
}
