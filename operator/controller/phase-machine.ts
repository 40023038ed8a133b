// The phase machine of a cluster run, as ONE pure function of what is observed: the
// experiment and its children (pods, ConfigMaps, Services) at a moment `nowMillis`. It returns
// what to apply, what to remove, the phase to report and when to look again. It never sleeps
// and keeps no memory: deadlines are measured from children's creationTimestamps, progress
// from which result ConfigMaps exist, so an operator restarted mid-run picks up exactly where
// the last one stopped.
//
// The operator only places: a run is the engine's planned trials (planTrials, A B B A ...),
// one step at a time so variants never share the nodes' CPU:
//   OTLP Service + token -> workload pods (and, with spec.load.generators = N > 1, N - 1
//   generator pods) -> all Ready -> load pod (the trial runner, the same code `conclab run`
//   runs, given the generators' URLs) -> its TrialRecord in a result ConfigMap -> remove the
//   step's pods.
// When every step has a record: the same record assembly and report as a local run
// (engine/assemble.ts, operator/report) -> Analyzing (apply the report ConfigMap) -> Succeeded.
import type { V1ConfigMap, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';
import type { Environment } from '../analysis/run.ts';
import { tracingOf } from '../api/defaults.ts';
import { Reason } from '../api/reasons.ts';
import type { ConcurrencyExperiment, Phase, SizingStatus, VariantResult, Verdict } from '../api/schema.ts';
import { type TrialRecord, trialRecordProblems } from '../contracts/records.ts';
import { assembleRun } from '../engine/assemble.ts';
import { planTrials, runVariant } from '../engine/plan.ts';
import { trialTimeBoundMillis } from '../engine/trial-runner.ts';
import { fitJsonReport } from '../report/fit.ts';
import { type JsonReport, toJsonReport } from '../report/json.ts';
import { buildReport } from '../report/model.ts';
import {
  childLabels,
  generatorPodName,
  LABEL_GENERATION,
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_TRIAL,
  LABEL_VARIANT,
  loadPodName,
  otlpServiceName,
  reportConfigMapName,
  resultConfigMapName,
  runOf,
  tokenSecretName,
  workloadPodName,
} from '../runtime/kube/names.ts';
import {
  ADMIN_PORT,
  GENERATE_PORT,
  generatorPod,
  loadPod,
  OTLP_PORT,
  otlpService,
  ownerReference,
  type PodContext,
  RECORD_KEY,
  WORK_PORT,
  workloadPod,
} from '../runtime/kube/pod-spec.ts';
import { sizingStatusOf } from './status.ts';

export const REPORT_KEY = 'report.json';

export interface PhaseTimeouts {
  /** From the first workload pod's creation until all of the step's pods are Ready. */
  deployMillis: number;
  /** Added to the trial runner's own time bound: how late a load pod may finish. */
  loadGraceMillis: number;
  /** How long past its deletion deadline a pod of an earlier step may take to go away. */
  cleanupMillis: number;
  /** How long after a load pod succeeded its record may take to arrive. */
  resultGraceMillis: number;
  /**
   * How long a step's pod may stay unschedulable before the run fails naming why (long enough
   * for a cluster autoscaler to add a node; a fixed cluster fails sooner than the deadlines).
   */
  unschedulableMillis: number;
}

export const DEFAULT_TIMEOUTS: PhaseTimeouts = {
  deployMillis: 5 * 60_000,
  loadGraceMillis: 2 * 60_000,
  cleanupMillis: 2 * 60_000,
  resultGraceMillis: 60_000,
  unschedulableMillis: 2 * 60_000,
};

export interface PhaseInput {
  /** A validated experiment with defaults applied, as read from the API server (uid set). */
  cx: ConcurrencyExperiment;
  /** Children of the experiment, as observed (informer cache or list). */
  pods: V1Pod[];
  configMaps: V1ConfigMap[];
  services: V1Service[];
  nowMillis: number;
  ctx: PodContext;
  timeouts: PhaseTimeouts;
  parseMillis: (d: string) => number;
  /** Recorded in the report (the operator's side; the nodes' facts come from the records). */
  environment: Environment;
}

export interface ChildRef {
  kind: 'Pod' | 'ConfigMap' | 'Secret' | 'Service';
  name: string;
}

export type Child = V1Pod | V1ConfigMap | V1Secret | V1Service;

export interface PhaseDecision {
  /** Children to server-side apply (idempotent). */
  apply: Child[];
  /** Children to delete (404 is fine). */
  remove: ChildRef[];
  /** The token Secret must exist before the applied pods can start (they read it). */
  ensureToken: boolean;
  phase: Phase;
  reason: Reason;
  message: string;
  currentVariant?: string;
  currentTrial?: number;
  results?: VariantResult[];
  verdict?: Verdict;
  /** spec.target: the sizing answer of the report. */
  sizing?: SizingStatus;
  reportRef?: { configMap: string; key: string };
  /** Look again after this long even if nothing changes (a deadline is due). */
  requeueAfterMillis?: number;
}

const FATAL_WAITING = new Set([
  'CrashLoopBackOff',
  'InvalidImageName',
  'CreateContainerError',
  'ErrImageNeverPull',
  'RunContainerError',
]);

/**
 * Waiting reasons the kubelet retries and that clear by themselves, fatal only when they last
 * this long after the pod was created. CreateContainerConfigError is how the kubelet reports a
 * Secret or ConfigMap it has not synced yet ("failed to sync secret cache: timed out waiting for
 * the condition", met on the real node when a scheduled run recreates its token Secret beside
 * the pods), as well as one that is really missing.
 */
export const RETRIED_WAITING_GRACE_MILLIS = 60_000;
const RETRIED_WAITING = new Set(['CreateContainerConfigError']);

export function timeMillis(t: unknown): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string') return Date.parse(t);
  return Number.NaN;
}

function label(obj: { metadata?: { labels?: Record<string, string> } }, key: string): string | undefined {
  return obj.metadata?.labels?.[key];
}

function exists(obj: { metadata?: { deletionTimestamp?: unknown } }): boolean {
  return !obj.metadata?.deletionTimestamp;
}

function isReady(pod: V1Pod): boolean {
  return (
    Boolean(pod.status?.podIP) && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/**
 * Why a pod cannot serve at `nowMillis`, or undefined. `deploying`: restarts before Ready are
 * failures too.
 */
export function podProblem(pod: V1Pod, deploying: boolean, nowMillis: number): string | undefined {
  const name = pod.metadata?.name ?? '?';
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const terminated = statuses.map((c) => c.state?.terminated ?? c.lastState?.terminated).find((t) => t !== undefined);
  if (pod.status?.phase === 'Failed') {
    const detail =
      pod.status.message ??
      (terminated
        ? `container exited with code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}${terminated.message ? `: ${terminated.message.trim()}` : ''}`
        : (pod.status.reason ?? 'no reason given'));
    return `pod ${name} failed: ${detail}`;
  }
  for (const cs of statuses) {
    const waiting = cs.state?.waiting;
    if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
      return `pod ${name} container ${cs.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
    }
    if (waiting?.reason && RETRIED_WAITING.has(waiting.reason)) {
      const created = timeMillis(pod.metadata?.creationTimestamp);
      const forMillis = Number.isFinite(created) ? nowMillis - created : RETRIED_WAITING_GRACE_MILLIS;
      if (forMillis >= RETRIED_WAITING_GRACE_MILLIS) {
        return `pod ${name} container ${cs.name}: ${waiting.reason} for ${Math.round(forMillis / 1000)}s${waiting.message ? `: ${waiting.message}` : ''}`;
      }
    }
    const last = cs.lastState?.terminated ?? cs.state?.terminated;
    if (deploying && (cs.restartCount ?? 0) > 0 && last) {
      const why = last.reason === 'OOMKilled' ? ' (out of memory: raise spec.resources.memory)' : '';
      return `pod ${name} container ${cs.name} exited with code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''} before becoming ready${why}${last.message ? `: ${last.message.trim().slice(0, 500)}` : ''}`;
    }
  }
  return undefined;
}

/** The scheduler's reason a pod has no node, and since when; undefined when it is scheduled or pending for another reason. */
export function unschedulable(pod: V1Pod): { message: string; sinceMillis: number } | undefined {
  const c = (pod.status?.conditions ?? []).find((x) => x.type === 'PodScheduled');
  if (c?.status !== 'False' || c.reason !== 'Unschedulable') return undefined;
  const since = timeMillis(c.lastTransitionTime ?? pod.metadata?.creationTimestamp);
  return { message: c.message ?? 'no node fits', sinceMillis: Number.isFinite(since) ? since : Number.NaN };
}

/** Fails the run when a pod stayed unschedulable past the grace; else undefined. */
function unschedulableFailure(pods: readonly V1Pod[], nowMillis: number, graceMillis: number): string | undefined {
  for (const p of pods) {
    const u = unschedulable(p);
    if (u && Number.isFinite(u.sinceMillis) && nowMillis - u.sinceMillis >= graceMillis) {
      return `pod ${p.metadata?.name} cannot be scheduled for ${Math.round((nowMillis - u.sinceMillis) / 1000)}s: ${u.message} (its requests are spec.resources, or the chart's loadResources for a load pod: make them fit a node)`;
    }
  }
  return undefined;
}

function waitingReasons(pods: V1Pod[]): string {
  const reasons = pods.flatMap((p) => {
    const u = unschedulable(p);
    if (u) return [`${p.metadata?.name}: unschedulable: ${u.message}`];
    return (p.status?.containerStatuses ?? [])
      .map((c) => c.state?.waiting?.reason)
      .filter((r): r is string => Boolean(r))
      .map((r) => `${p.metadata?.name}: ${r}`);
  });
  return reasons.length ? ` (${reasons.join(', ')})` : '';
}

/** Parses and checks a stored TrialRecord (the same definition the results endpoint checks). */
export function parseTrialRecord(json: string): TrialRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`);
  }
  const problems = trialRecordProblems(value);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return value as TrialRecord;
}

/** The report of a finished cluster run: the same assembly and report as `conclab run`. */
export function clusterReport(
  cx: ConcurrencyExperiment,
  records: readonly TrialRecord[],
  now: Date,
  environment: Environment,
): JsonReport {
  const starts = records.map((r) => r.load.startedAtMillis);
  const ends = records.map((r) => r.load.endedAtMillis);
  const run = assembleRun({
    experiment: cx,
    environment,
    trials: records,
    startedAt: new Date(starts.length ? Math.min(...starts) : now.getTime()),
    endedAt: new Date(ends.length ? Math.max(...ends) : now.getTime()),
    partial: false,
  });
  return fitJsonReport(toJsonReport(buildReport(run, { generatedAt: now, seed: 0x5eed })));
}

export function reportConfigMap(cx: ConcurrencyExperiment, report: JsonReport): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: reportConfigMapName(cx.metadata.name, runOf(cx)),
      namespace: cx.metadata.namespace,
      labels: childLabels(cx.metadata.name, 'report', cx.metadata.generation ?? 0, undefined, runOf(cx)),
      ownerReferences: [ownerReference(cx)],
    },
    data: { [REPORT_KEY]: JSON.stringify(report) },
  };
}

export function decidePhase(input: PhaseInput): PhaseDecision {
  const { cx, nowMillis, timeouts, parseMillis } = input;
  const name = cx.metadata.name;
  const generation = String(cx.metadata.generation ?? 0);
  const pods = input.pods.filter(exists);
  const configMaps = input.configMaps.filter(exists);
  const services = input.services.filter(exists);
  // A scheduled experiment's run (undefined for one-shot): part of every child's name and labels.
  const run = runOf(cx);
  const reportName = reportConfigMapName(name, run);
  const reportRef = { configMap: reportName, key: REPORT_KEY };
  const ofThisRun = (o: { metadata?: { labels?: Record<string, string> } }) =>
    label(o, LABEL_GENERATION) === generation && (run === undefined || label(o, LABEL_RUN) === run);
  // Reports of earlier scheduled runs are history: the controller keeps historyLimit of them.
  const history = (c: V1ConfigMap) => run !== undefined && label(c, LABEL_ROLE) === 'report' && !ofThisRun(c);

  // Children of an older spec (or an earlier run) go first, whatever else happens.
  const stale: ChildRef[] = [
    ...pods.filter((p) => !ofThisRun(p)).map((p) => ref('Pod', p)),
    ...configMaps.filter((c) => !ofThisRun(c) && !history(c)).map((c) => ref('ConfigMap', c)),
    ...services.filter((s) => !ofThisRun(s)).map((s) => ref('Service', s)),
  ];
  const current = {
    pods: pods.filter(ofThisRun),
    configMaps: configMaps.filter(ofThisRun),
    services: services.filter(ofThisRun),
  };
  const everythingButReport: ChildRef[] = [
    ...stale,
    ...current.pods.map((p) => ref('Pod', p)),
    ...current.configMaps.filter((c) => c.metadata?.name !== reportName).map((c) => ref('ConfigMap', c)),
    ...current.services.map((s) => ref('Service', s)),
    { kind: 'Secret', name: tokenSecretName(name) },
  ];
  const base = { apply: [] as PhaseDecision['apply'], ensureToken: false };

  const fail = (reason: Reason, message: string, step?: { variant: string; trial: number }): PhaseDecision => ({
    ...base,
    remove: everythingButReport,
    phase: 'Failed',
    reason,
    message,
    ...(step ? { currentVariant: step.variant, currentTrial: step.trial } : {}),
  });

  // A failure is final for this generation; status is its only record once children are gone.
  const status = cx.status;
  if (status?.phase === 'Failed' && status.observedGeneration === cx.metadata.generation) {
    const degraded = status.conditions?.find((c) => c.type === 'Degraded');
    return fail((degraded?.reason as Reason | undefined) ?? Reason.WorkloadFailed, degraded?.message ?? 'failed');
  }

  // The report exists: the run is done; only tidying remains.
  const report = current.configMaps.find((c) => c.metadata?.name === reportName);
  if (report) {
    let parsed: Pick<JsonReport, 'results' | 'verdict' | 'capacityPlan' | 'config'> | undefined;
    try {
      parsed = JSON.parse(report.data?.[REPORT_KEY] ?? '') as JsonReport;
    } catch {
      parsed = undefined;
    }
    return {
      ...base,
      remove: everythingButReport,
      phase: 'Succeeded',
      reason: Reason.Completed,
      message: parsed?.verdict.summary ?? `report in ConfigMap ${reportName}`,
      ...(parsed ? { results: parsed.results, verdict: parsed.verdict } : {}),
      ...sizingOf(parsed),
      reportRef,
    };
  }

  const plan = planTrials(cx.spec);
  const records: TrialRecord[] = [];
  for (const p of plan) {
    const cm = current.configMaps.find((c) => c.metadata?.name === resultConfigMapName(name, p.variant, p.trial, run));
    if (!cm) continue;
    try {
      const record = parseTrialRecord(cm.data?.[RECORD_KEY] ?? '');
      if (record.variant !== p.variant || record.trial !== p.trial) {
        throw new Error(`it is the record of variant ${record.variant} trial ${record.trial}`);
      }
      records.push(record);
    } catch (err) {
      return fail(
        Reason.ResultInvalid,
        `variant ${p.variant} trial ${p.trial}: record in ConfigMap ${cm.metadata?.name} is invalid: ${(err as Error).message}`,
        p,
      );
    }
  }

  if (records.length === plan.length) {
    let built: JsonReport;
    try {
      built = clusterReport(cx, records, new Date(nowMillis), input.environment);
    } catch (err) {
      // Same inputs, same outcome: retrying cannot help, so this ends the run.
      return fail(Reason.AnalysisFailed, `analysis of ${plan.length} trials failed: ${(err as Error).message}`);
    }
    return {
      ...base,
      apply: [reportConfigMap(cx, built)],
      remove: [...stale, ...current.pods.map((p) => ref('Pod', p)), ...current.services.map((s) => ref('Service', s))],
      phase: 'Analyzing',
      reason: Reason.Analyzing,
      message: `all ${plan.length} trials measured; writing the report`,
      results: built.results,
      verdict: built.verdict,
      ...sizingOf(built),
    };
  }

  const step = plan.find((p) => !records.some((s) => s.variant === p.variant && s.trial === p.trial));
  if (!step) throw new Error('unreachable: a step without record must exist');
  const stepInfo = { currentVariant: step.variant, currentTrial: step.trial };
  const variant = runVariant(cx.spec, step.variant);
  if (!variant) throw new Error(`unreachable: planned variant ${step.variant} not in spec`);
  const isStep = (o: { metadata?: { labels?: Record<string, string> } }) =>
    label(o, LABEL_VARIANT) === step.variant && label(o, LABEL_TRIAL) === String(step.trial);

  // Only one step's pods at a time: earlier steps' pods must be GONE, not merely terminating
  // (a terminating pod still burns CPU for its grace period), before this one starts.
  const others = current.pods.filter((p) => !isStep(p));
  const terminating = input.pods.filter((p) => !exists(p) && !isStep(p));
  if (others.length > 0 || stale.length > 0 || terminating.length > 0) {
    const waitingFor = others.length + stale.length + terminating.length;
    // deletionTimestamp is when the pod's grace period ends; past it plus cleanupMillis, a pod
    // is stuck (a lost node, a hung container runtime) and the run cannot fairly continue.
    const deadlines = terminating.map((p) => ({
      p,
      at: timeMillis(p.metadata?.deletionTimestamp) + timeouts.cleanupMillis,
    }));
    const stuck = deadlines.find((d) => nowMillis >= d.at);
    if (stuck) {
      const v = label(stuck.p, LABEL_VARIANT);
      const tr = label(stuck.p, LABEL_TRIAL);
      return fail(
        Reason.CleanupTimedOut,
        `variant ${v} trial ${tr}: pod ${stuck.p.metadata?.name} still terminating ${Math.round(timeouts.cleanupMillis / 1000)}s after its grace period; the next trial would share its CPU`,
        step,
      );
    }
    const next = Math.min(...deadlines.map((d) => d.at).filter(Number.isFinite), Number.POSITIVE_INFINITY);
    return {
      ...base,
      remove: [...stale, ...others.map((p) => ref('Pod', p))],
      phase: 'Running',
      reason: Reason.WaitingForCleanup,
      message: `waiting for ${waitingFor} pod(s) of earlier trials to go before variant ${step.variant} trial ${step.trial}`,
      ...(Number.isFinite(next) ? { requeueAfterMillis: Math.max(1000, next - nowMillis) } : {}),
      ...stepInfo,
    };
  }

  const where = `variant ${step.variant} trial ${step.trial}`;
  // Spans go to the step's load pod through the experiment's OTLP Service; its ClusterIP is
  // what workloads are given (no cluster DNS needed).
  const tracing = tracingOf(cx.spec).enabled;
  const service = current.services.find((s) => s.metadata?.name === otlpServiceName(name, run));
  const clusterIp = service?.spec?.clusterIP;
  if (tracing && (!clusterIp || clusterIp === 'None')) {
    return {
      ...base,
      apply: [otlpService(cx)],
      ensureToken: true,
      remove: [],
      phase: 'Running',
      reason: Reason.DeployingWorkload,
      message: `${where}: creating the OTLP Service the workloads export spans to`,
      requeueAfterMillis: 1000,
      ...stepInfo,
    };
  }
  const tracesEndpoint = tracing ? `http://${clusterIp}:${OTLP_PORT}/v1/traces` : undefined;

  const workloadNames = Array.from({ length: variant.replicas }, (_, i) =>
    workloadPodName(name, variant.name, step.trial, i, run),
  );
  const workloads = workloadNames.map((n) => current.pods.find((p) => p.metadata?.name === n));
  const present = workloads.filter((p): p is V1Pod => p !== undefined);
  const loadName = loadPodName(name, step.variant, step.trial, run);
  const load = current.pods.find((p) => p.metadata?.name === loadName);
  // Generator pods 1 .. N-1 (the load pod is generator 0): deployed with the workloads, and
  // Ready before the load pod starts, which hands them their shares of every plan.
  const generatorNames = Array.from({ length: (cx.spec.load.generators ?? 1) - 1 }, (_, i) =>
    generatorPodName(name, step.variant, step.trial, i + 1, run),
  );
  const generators = generatorNames.map((n) => current.pods.find((p) => p.metadata?.name === n));
  const presentGenerators = generators.filter((p): p is V1Pod => p !== undefined);

  for (const pod of present) {
    const problem = podProblem(pod, !load, nowMillis);
    if (problem) return fail(Reason.WorkloadFailed, `${where}: ${problem}`, step);
  }
  // Once the load pod has finished, its generators have nothing left to do.
  const loadFinished = load?.status?.phase === 'Succeeded';
  for (const pod of loadFinished ? [] : presentGenerators) {
    const problem = podProblem(pod, !load, nowMillis);
    if (problem) return fail(Reason.LoadFailed, `${where}: load generator ${problem}`, step);
  }
  if (load && !loadFinished) {
    const gone = generatorNames.find((_, i) => !generators[i]);
    if (gone) return fail(Reason.LoadFailed, `${where}: load generator pod ${gone} is gone while the load ran`, step);
  }

  const stuck = unschedulableFailure(
    [...present, ...presentGenerators, ...(load ? [load] : [])],
    nowMillis,
    timeouts.unschedulableMillis,
  );
  if (stuck) return fail(Reason.Unschedulable, `${where}: ${stuck}`, step);

  const allReady =
    present.length === workloadNames.length &&
    present.every(isReady) &&
    presentGenerators.length === generatorNames.length &&
    presentGenerators.every(isReady);
  if (!allReady && !load) {
    const deploying = [...present, ...presentGenerators];
    const created = deploying.map((p) => timeMillis(p.metadata?.creationTimestamp)).filter(Number.isFinite);
    const startMillis = created.length ? Math.min(...created) : nowMillis;
    const deadline = startMillis + timeouts.deployMillis;
    if (nowMillis >= deadline) {
      return fail(
        Reason.WorkloadNotReady,
        `${where}: pods not ready within ${Math.round(timeouts.deployMillis / 1000)}s${waitingReasons(deploying)}`,
        step,
      );
    }
    const missing = workloadNames.flatMap((_, i) => (workloads[i] ? [] : [i]));
    const missingGenerators = generatorNames.flatMap((_, i) => (generators[i] ? [] : [i + 1]));
    const generatorsReady = generatorNames.length
      ? `, ${presentGenerators.filter(isReady).length}/${generatorNames.length} load generator pod(s) ready`
      : '';
    return {
      ...base,
      apply: [
        ...missing.map((i) => workloadPod(cx, variant, step.trial, i, input.ctx, tracesEndpoint)),
        ...missingGenerators.map((g) =>
          generatorPod({ cx, variant: step.variant, trial: step.trial, generator: g }, input.ctx),
        ),
      ],
      ensureToken: true,
      remove: [],
      phase: 'Running',
      reason: Reason.DeployingWorkload,
      message: `${where}: ${present.filter(isReady).length}/${variant.replicas} workload pod(s) ready${generatorsReady}${waitingReasons(deploying)}`,
      requeueAfterMillis: Math.max(1000, deadline - nowMillis),
      ...stepInfo,
    };
  }

  if (!load) {
    const targets = workloadNames.map((n) => {
      const ip = current.pods.find((p) => p.metadata?.name === n)?.status?.podIP;
      return { workUrl: `http://${ip}:${WORK_PORT}`, adminUrl: `http://${ip}:${ADMIN_PORT}` };
    });
    const generatorUrls = presentGenerators.map((p) => `http://${p.status?.podIP}:${GENERATE_PORT}`);
    return {
      ...base,
      apply: [
        loadPod(
          {
            cx,
            variant: step.variant,
            trial: step.trial,
            targets,
            ...(generatorUrls.length ? { generators: generatorUrls } : {}),
          },
          input.ctx,
        ),
      ],
      ensureToken: true,
      remove: [],
      phase: 'Running',
      reason: Reason.RunningLoad,
      message: `${where}: starting the load pod`,
      requeueAfterMillis: 1000,
      ...stepInfo,
    };
  }

  // Fatal waiting reasons (a bad image; a token Secret still missing after
  // RETRIED_WAITING_GRACE_MILLIS) count too, not only Failed.
  const loadProblem = podProblem(load, false, nowMillis);
  if (loadProblem) return fail(Reason.LoadFailed, `${where}: ${loadProblem}`, step);
  if (load.status?.phase === 'Succeeded') {
    const finished = (load.status.containerStatuses ?? [])
      .map((c) => timeMillis(c.state?.terminated?.finishedAt))
      .filter(Number.isFinite);
    const since = finished.length ? Math.max(...finished) : timeMillis(load.metadata?.creationTimestamp);
    const deadline = (Number.isFinite(since) ? since : nowMillis) + timeouts.resultGraceMillis;
    if (nowMillis >= deadline) {
      return fail(Reason.LoadFailed, `${where}: load pod ${loadName} finished without posting its record`, step);
    }
    return waitLoad(deadline);
  }
  const createdMillis = timeMillis(load.metadata?.creationTimestamp);
  const deadline =
    (Number.isFinite(createdMillis) ? createdMillis : nowMillis) +
    trialTimeBoundMillis(cx, parseMillis) +
    timeouts.loadGraceMillis;
  if (nowMillis >= deadline) {
    return fail(
      Reason.LoadTimedOut,
      `${where}: no record from load pod ${loadName} within ${Math.round((deadline - createdMillis) / 1000)}s`,
      step,
    );
  }
  return waitLoad(deadline);

  function waitLoad(deadlineMillis: number): PhaseDecision {
    const waiting = load ? unschedulable(load) : undefined;
    // Unschedulable: look again when its grace ends, not only at the load deadline.
    const due = waiting ? Math.min(deadlineMillis, waiting.sinceMillis + timeouts.unschedulableMillis) : deadlineMillis;
    return {
      ...base,
      remove: [],
      phase: 'Running',
      reason: Reason.RunningLoad,
      message: `${where}: ${waiting ? `the load pod waits for a node (${waiting.message})` : 'load running'}`,
      requeueAfterMillis: Math.max(1000, (Number.isFinite(due) ? due : deadlineMillis) - nowMillis),
      ...stepInfo,
    };
  }
}

/** status.sizing from a report that has a sizing answer (spec.target). */
function sizingOf(report: Pick<JsonReport, 'capacityPlan' | 'config'> | undefined): { sizing?: SizingStatus } {
  const sizing = report?.config ? sizingStatusOf(report) : undefined;
  return sizing ? { sizing } : {};
}

function ref(kind: ChildRef['kind'], o: { metadata?: { name?: string } }): ChildRef {
  return { kind, name: o.metadata?.name ?? '' };
}

/**
 * What the report says about where a cluster run happened, from the operator's side. The
 * nodes' facts (kernel, CPUs, cgroup version, images) come from the trial records, as the
 * workloads' supervisors reported them (engine/assemble.ts).
 */
export function clusterEnvironment(toolVersion: string, operatorHost: string, nodeVersion: string): Environment {
  return {
    toolVersion,
    hostname: `kubernetes (operator ${operatorHost})`,
    cores: 0,
    cpuModel: 'unknown: no workload reported it',
    kernel: 'unknown: no workload reported it',
    cgroupVersion: 'kubernetes',
    runtimeVersions: { operatorNode: nodeVersion },
    runtime: 'kubernetes',
    warnings: [],
  };
}
