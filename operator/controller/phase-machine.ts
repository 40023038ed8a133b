// The phase machine of a cluster run, as ONE pure function of what is observed: the
// experiment and its children (pods, ConfigMaps) at a moment `nowMillis`. It returns what
// to apply, what to remove, the phase to report and when to look again. It never sleeps and
// keeps no memory: deadlines are measured from children's creationTimestamps, progress
// from which result ConfigMaps exist, so an operator restarted mid-run picks up exactly
// where the last one stopped.
//
// A run is a list of steps (variant, trial), interleaved A B B A ... by the engine's
// planTrials. Steps run one at a time so variants never share the nodes' CPU:
//   deploy workload pods -> all Ready -> load pod -> result ConfigMap -> remove step pods.
// When every step has a result: Analyzing (apply the report ConfigMap) -> Succeeded.
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ConcurrencyExperiment, Phase, VariantResult, Verdict } from '../../api/schema.ts';
import { Reason } from '../../controller/reasons.ts';
import { faultsFor, faultWorker, planTrials, toLoadPlan } from '../../engine/plan.ts';
import type { Environment } from '../../analysis/run.ts';
import type { InjectedFault, WorkloadEvent } from '../../contracts/records.ts';
import { generateK6Script } from '../../load/k6-script.ts';
import { sloFromApi } from '../../load/slo.ts';
import type { LoadPlan, LoadResult } from '../../load/types.ts';
import type { JsonReport } from '../../report/json.ts';
import type { SpanAggregate } from '../../telemetry/types.ts';
import {
  childLabels,
  k6ScriptConfigMapName,
  LABEL_GENERATION,
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_TRIAL,
  LABEL_VARIANT,
  loadPodName,
  reportConfigMapName,
  resultConfigMapName,
  runOf,
  tokenSecretName,
  workloadPodName,
} from './names.ts';
import {
  ADMIN_PORT,
  K6_SUMMARY_PATH,
  loadPod,
  ownerReference,
  type PodContext,
  WORK_PORT,
  workloadPod,
} from './pod-spec.ts';
import { buildClusterReport, clusterEnvironment, REPORT_KEY, reportConfigMap, type StepResult } from './report.ts';

export interface PhaseTimeouts {
  /** From the first workload pod's creation until all of the step's pods are Ready. */
  deployMillis: number;
  /** Added to warm-up + measured duration: how late a load pod may finish. */
  loadGraceMillis: number;
  /** How long past its deletion deadline a pod of an earlier step may take to go away. */
  cleanupMillis: number;
  /** How long after a load pod succeeded its result may take to arrive. */
  resultGraceMillis: number;
}

export const DEFAULT_TIMEOUTS: PhaseTimeouts = {
  deployMillis: 5 * 60_000,
  loadGraceMillis: 2 * 60_000,
  cleanupMillis: 2 * 60_000,
  resultGraceMillis: 60_000,
};

export interface PhaseInput {
  /** A validated experiment with defaults applied, as read from the API server (uid set). */
  cx: ConcurrencyExperiment;
  /** Children of the experiment, as observed (informer cache or list). */
  pods: V1Pod[];
  configMaps: V1ConfigMap[];
  nowMillis: number;
  ctx: PodContext;
  timeouts: PhaseTimeouts;
  parseMillis: (d: string) => number;
  /** Span aggregates the operator's OTLP receiver holds for this experiment (best effort). */
  spans?: SpanAggregate[];
  /** Recorded in the report; defaults to a plain "kubernetes" description. */
  environment?: Environment;
}

export interface ChildRef {
  kind: 'Pod' | 'ConfigMap' | 'Secret';
  name: string;
}

export type Child = V1Pod | V1ConfigMap | V1Secret;

export interface PhaseDecision {
  /** Children to server-side apply (idempotent). */
  apply: Child[];
  /** Children to delete (404 is fine). */
  remove: ChildRef[];
  /** The results token Secret must exist before the applied load pod can start. */
  ensureToken: boolean;
  phase: Phase;
  reason: Reason;
  message: string;
  currentVariant?: string;
  currentTrial?: number;
  results?: VariantResult[];
  verdict?: Verdict;
  reportRef?: { configMap: string; key: string };
  /** Look again after this long even if nothing changes (a deadline is due). */
  requeueAfterMillis?: number;
}

const FATAL_WAITING = new Set([
  'CrashLoopBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'ErrImageNeverPull',
  'RunContainerError',
]);

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

/** Why a pod cannot serve, or undefined. `deploying`: restarts before Ready are failures too. */
export function podProblem(pod: V1Pod, deploying: boolean): string | undefined {
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
    const last = cs.lastState?.terminated ?? cs.state?.terminated;
    if (deploying && (cs.restartCount ?? 0) > 0 && last) {
      return `pod ${name} container ${cs.name} exited with code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''} before becoming ready`;
    }
  }
  return undefined;
}

function waitingReasons(pods: V1Pod[]): string {
  const reasons = pods.flatMap((p) =>
    (p.status?.containerStatuses ?? [])
      .map((c) => c.state?.waiting?.reason)
      .filter((r): r is string => Boolean(r))
      .map((r) => `${p.metadata?.name}: ${r}`),
  );
  return reasons.length ? ` (${reasons.join(', ')})` : '';
}

/** Parses and checks a posted LoadResult; throws with what is wrong. */
export function parseLoadResult(json: string): LoadResult {
  const r = JSON.parse(json) as Partial<LoadResult>;
  for (const k of ['startedAtMillis', 'endedAtMillis', 'sent', 'completed'] as const) {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`field ${k} must be a number`);
  }
  if (typeof r.latencyHistogram !== 'string') throw new Error('field latencyHistogram must be a string');
  if (typeof r.errors !== 'object' || r.errors === null) throw new Error('field errors must be an object');
  return r as LoadResult;
}

function loadDurationMillis(cx: ConcurrencyExperiment, parseMillis: (d: string) => number): number {
  const l = cx.spec.load;
  const measured =
    l.pattern === 'ramping-arrival-rate'
      ? (l.stages ?? []).reduce((a, s) => a + parseMillis(s.duration), 0)
      : parseMillis(l.duration);
  return parseMillis(l.warmUp) + measured;
}

export function decidePhase(input: PhaseInput): PhaseDecision {
  const { cx, nowMillis, timeouts, parseMillis } = input;
  const name = cx.metadata.name;
  const generation = String(cx.metadata.generation ?? 0);
  const pods = input.pods.filter(exists);
  const configMaps = input.configMaps.filter(exists);
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
    ...pods.filter((p) => !ofThisRun(p)).map((p) => podRef(p)),
    ...configMaps.filter((c) => !ofThisRun(c) && !history(c)).map((c) => cmRef(c)),
  ];
  const current = {
    pods: pods.filter(ofThisRun),
    configMaps: configMaps.filter(ofThisRun),
  };
  const everythingButReport: ChildRef[] = [
    ...stale,
    ...current.pods.map(podRef),
    ...current.configMaps.filter((c) => c.metadata?.name !== reportName).map(cmRef),
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
    let parsed: Pick<JsonReport, 'results' | 'verdict'> | undefined;
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
      reportRef,
    };
  }

  const plan = planTrials(cx.spec);
  const steps: StepResult[] = [];
  for (const p of plan) {
    const cm = current.configMaps.find((c) => c.metadata?.name === resultConfigMapName(name, p.variant, p.trial, run));
    if (!cm) continue;
    try {
      const load = parseLoadResult(cm.data?.['result.json'] ?? '');
      const extra = load as LoadResult & { injectedFaults?: InjectedFault[]; workloadEvents?: WorkloadEvent[] };
      steps.push({
        variant: p.variant,
        trial: p.trial,
        load,
        restarts: Number(cm.data?.restarts ?? 0) || 0,
        faults: extra.injectedFaults ?? [],
        events: extra.workloadEvents ?? [],
      });
    } catch (err) {
      return fail(
        Reason.ResultInvalid,
        `variant ${p.variant} trial ${p.trial}: result in ConfigMap ${cm.metadata?.name} is invalid: ${(err as Error).message}`,
        p,
      );
    }
  }

  if (steps.length === plan.length) {
    let built: JsonReport;
    try {
      built = buildClusterReport(
        cx,
        steps,
        new Date(nowMillis),
        input.spans ?? [],
        input.environment ?? clusterEnvironment('unknown', 'unknown', 'unknown'),
      );
    } catch (err) {
      // Same inputs, same outcome: retrying cannot help, so this ends the run.
      return fail(Reason.AnalysisFailed, `analysis of ${plan.length} trials failed: ${(err as Error).message}`);
    }
    return {
      ...base,
      apply: [reportConfigMap(cx, built, ownerReference(cx))],
      remove: [...stale, ...current.pods.map(podRef)],
      phase: 'Analyzing',
      reason: Reason.Analyzing,
      message: `all ${plan.length} trials measured; writing the report`,
      results: built.results,
      verdict: built.verdict,
    };
  }

  const step = plan.find((p) => !steps.some((s) => s.variant === p.variant && s.trial === p.trial));
  if (!step) throw new Error('unreachable: a step without result must exist');
  const stepInfo = { currentVariant: step.variant, currentTrial: step.trial };
  const variant = cx.spec.variants.find((v) => v.name === step.variant);
  if (!variant) throw new Error(`unreachable: planned variant ${step.variant} not in spec`);
  const isStep = (o: { metadata?: { labels?: Record<string, string> } }) =>
    label(o, LABEL_VARIANT) === step.variant && label(o, LABEL_TRIAL) === String(step.trial);

  // Only one step's pods at a time: earlier steps' pods must be GONE, not merely terminating
  // (a terminating pod still burns CPU for its grace period), before this one starts.
  const others = current.pods.filter((p) => !isStep(p));
  const otherScripts = current.configMaps.filter((c) => label(c, LABEL_ROLE) === 'script' && !isStep(c));
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
      remove: [...stale, ...others.map(podRef), ...otherScripts.map(cmRef)],
      phase: 'Running',
      reason: Reason.WaitingForCleanup,
      message: `waiting for ${waitingFor} pod(s) of earlier trials to go before variant ${step.variant} trial ${step.trial}`,
      ...(Number.isFinite(next) ? { requeueAfterMillis: Math.max(1000, next - nowMillis) } : {}),
      ...stepInfo,
    };
  }

  const workloadNames = Array.from({ length: variant.replicas }, (_, i) =>
    workloadPodName(name, variant.name, step.trial, i, run),
  );
  const workloads = workloadNames.map((n) => current.pods.find((p) => p.metadata?.name === n));
  const missing = workloadNames.filter((_, i) => !workloads[i]);
  const present = workloads.filter((p): p is V1Pod => p !== undefined);
  const loadName = loadPodName(name, step.variant, step.trial, run);
  const load = current.pods.find((p) => p.metadata?.name === loadName);
  const where = `variant ${step.variant} trial ${step.trial}`;

  for (const pod of present) {
    const problem = podProblem(pod, !load);
    if (problem) return fail(Reason.WorkloadFailed, `${where}: ${problem}`, step);
  }

  const allReady = missing.length === 0 && present.every(isReady);
  if (!allReady) {
    const created = present.map((p) => timeMillis(p.metadata?.creationTimestamp)).filter(Number.isFinite);
    const startMillis = created.length ? Math.min(...created) : nowMillis;
    const deadline = startMillis + timeouts.deployMillis;
    if (nowMillis >= deadline) {
      return fail(
        Reason.WorkloadNotReady,
        `${where}: pods not ready within ${Math.round(timeouts.deployMillis / 1000)}s${waitingReasons(present)}`,
        step,
      );
    }
    return {
      ...base,
      apply: missing.map((_, i) =>
        workloadPod(cx, variant, step.trial, workloadNames.indexOf(missing[i] as string), input.ctx),
      ),
      remove: [],
      phase: 'Running',
      reason: Reason.DeployingWorkload,
      message: `${where}: ${present.filter(isReady).length}/${variant.replicas} workload pod(s) ready`,
      requeueAfterMillis: Math.max(1000, deadline - nowMillis),
      ...stepInfo,
    };
  }

  if (!load) {
    const targets = present.map((p) => `http://${p.status?.podIP}:${WORK_PORT}/work`);
    const plan = loadPlanFor(cx, step, targets, parseMillis);
    const { targets: _targets, ...planWithoutUrl } = plan;
    const planJson = JSON.stringify(planWithoutUrl);
    const script = cx.spec.load.driver === 'k6' ? [k6ScriptConfigMap(cx, step, plan, parseMillis)] : [];
    // Faults hit exactly one worker of the first replica, timed by the load pod from the
    // start of its run (warm-up + at), through the supervisor's admin endpoint.
    const faults = faultsFor(cx.spec.faults, step.variant).map((f) => ({
      kind: f.kind,
      worker: faultWorker(f, variant.workers),
      atMillis: plan.warmUpMillis + parseMillis(f.at),
    }));
    const adminUrls = present.map((p) => `http://${p.status?.podIP}:${ADMIN_PORT}`);
    return {
      ...base,
      apply: [
        ...script,
        loadPod({ cx, variant: step.variant, trial: step.trial, targets, planJson, faults, adminUrls }, input.ctx),
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

  // Fatal waiting reasons (a bad image, a missing token Secret) count too, not only Failed.
  const loadProblem = podProblem(load, false);
  if (loadProblem) return fail(Reason.LoadFailed, `${where}: ${loadProblem}`, step);
  if (load.status?.phase === 'Succeeded') {
    const finished = (load.status.containerStatuses ?? [])
      .map((c) => timeMillis(c.state?.terminated?.finishedAt))
      .filter(Number.isFinite);
    const since = finished.length ? Math.max(...finished) : timeMillis(load.metadata?.creationTimestamp);
    const deadline = (Number.isFinite(since) ? since : nowMillis) + timeouts.resultGraceMillis;
    if (nowMillis >= deadline) {
      return fail(Reason.LoadFailed, `${where}: load pod ${loadName} finished without posting its result`, step);
    }
    return waitLoad(deadline);
  }
  const createdMillis = timeMillis(load.metadata?.creationTimestamp);
  const deadline =
    (Number.isFinite(createdMillis) ? createdMillis : nowMillis) +
    loadDurationMillis(cx, parseMillis) +
    timeouts.loadGraceMillis;
  if (nowMillis >= deadline) {
    return fail(
      Reason.LoadTimedOut,
      `${where}: no result from load pod ${loadName} within ${Math.round((deadline - createdMillis) / 1000)}s`,
      step,
    );
  }
  return waitLoad(deadline);

  function waitLoad(deadlineMillis: number): PhaseDecision {
    return {
      ...base,
      remove: [],
      phase: 'Running',
      reason: Reason.RunningLoad,
      message: `${where}: load running`,
      requeueAfterMillis: Math.max(1000, deadlineMillis - nowMillis),
      ...stepInfo,
    };
  }
}

/** The LoadPlan of one step; its url is the first target (the load pod gets all in --targets). */
export function loadPlanFor(
  cx: ConcurrencyExperiment,
  step: { variant: string; trial: number },
  targets: string[],
  parseMillis: (d: string) => number,
): LoadPlan {
  return toLoadPlan({
    load: cx.spec.load,
    url: targets[0] ?? '',
    headers: { 'x-conclab-variant': step.variant, 'x-conclab-trial': String(step.trial) },
    parseMillis,
  });
}

/** The k6 script of one step, mounted into the load pod's k6 container. */
export function k6ScriptConfigMap(
  cx: ConcurrencyExperiment,
  step: { variant: string; trial: number },
  plan: LoadPlan,
  parseMillis: (d: string) => number,
): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: k6ScriptConfigMapName(cx.metadata.name, step.variant, step.trial, runOf(cx)),
      namespace: cx.metadata.namespace,
      labels: childLabels(cx.metadata.name, 'script', cx.metadata.generation ?? 0, step, runOf(cx)),
      ownerReferences: [ownerReference(cx)],
    },
    data: {
      'script.js': generateK6Script(plan, { slo: sloFromApi(cx.spec.slo, parseMillis), summaryPath: K6_SUMMARY_PATH }),
    },
  };
}

function podRef(p: V1Pod): ChildRef {
  return { kind: 'Pod', name: p.metadata?.name ?? '' };
}

function cmRef(c: V1ConfigMap): ChildRef {
  return { kind: 'ConfigMap', name: c.metadata?.name ?? '' };
}
