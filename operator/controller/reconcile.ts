// Level-based reconcile: a function of the experiment and its children as they are now. It
// is never told why it runs (create, update, delete, resync, restart all look the same), so
// it checks everything each time: deletion -> cleanup; finalizer present; spec valid; then
// the kube runtime's phase machine decides children and status.

import { randomBytes } from 'node:crypto';
import type { V1ConfigMap, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';
import { detectRegression, type RunFigures } from '../analysis/regression.ts';
import type { Environment } from '../analysis/run.ts';
import { ConditionType, Reason } from '../api/reasons.ts';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import { parseDurationMillis } from '../api/units.ts';
import { checkObject } from '../api/validate.ts';
import { parseJsonReport } from '../report/json.ts';
import {
  childLabels,
  childSelector,
  FINALIZER,
  LABEL_ROLE,
  reportConfigMapName,
  runOf,
  tokenSecretName,
} from '../runtime/kube/names.ts';
import { ownerReference, type PodContext } from '../runtime/kube/pod-spec.ts';
import { lagsBehind } from './cache-lag.ts';
import { ControllerError, ErrorKind, statusCodeOf } from './errors.ts';
import type { KubeClient } from './kube-client.ts';
import { experimentFigures, type OperatorMetrics } from './metrics.ts';
import {
  type Child,
  type ChildRef,
  decidePhase,
  type PhaseDecision,
  type PhaseTimeouts,
  REPORT_KEY,
  timeMillis,
} from './phase-machine.ts';
import { runFiguresOf } from './run-figures.ts';
import { type RunRecord, recordRun, reportsToDelete } from './run-history.ts';
import { decideSchedule, type ScheduleDecision } from './schedule.ts';
import { buildStatus, rfc3339, type StatusInput, statusDiffers } from './status.ts';

export interface ReconcileContext {
  client: KubeClient;
  /** Children as last observed (informer caches). */
  observe(namespace: string, experiment: string): { pods: V1Pod[]; configMaps: V1ConfigMap[]; services: V1Service[] };
  podContext: PodContext;
  timeouts: PhaseTimeouts;
  now(): number;
  /**
   * The clock `spec.schedule` is evaluated on; defaults to now(). Tests inject a FAKE one to
   * step through cron ticks; a run's own deadlines always use now() (children's real times).
   */
  scheduleNow?(): number;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Recorded in reports (the operator's side; the nodes' facts come from the records). */
  environment: Environment;
  /** The experiments' last finished run as Prometheus gauges (capacity, p99, regression). */
  metrics?: OperatorMetrics;
}

export interface Action {
  /** Reconcile again after this long even if nothing changes (a deadline is due). */
  requeueAfterMillis?: number;
  /** What the run looks like now, for metrics and logs. */
  phase?: string;
}

/** Problems with a spec that retrying cannot fix, one line each with the field path. */
export function specProblems(cx: ConcurrencyExperiment): { experiment?: ConcurrencyExperiment; problems: string[] } {
  const problems: string[] = [];
  const experiment = checkObject(cx, (segments, message) => {
    const path = segments
      .map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))
      .join('')
      .replace(/^\./, '');
    problems.push(path ? `${path}: ${message}` : message);
  });
  if (problems.length > 0 || !experiment) return { problems };
  return { experiment: { ...experiment, ...(cx.status ? { status: cx.status } : {}) }, problems };
}

export async function reconcile(cx: ConcurrencyExperiment, ctx: ReconcileContext): Promise<Action> {
  const namespace = cx.metadata.namespace ?? 'default';
  const name = cx.metadata.name;

  if (cx.metadata.deletionTimestamp) {
    if (!cx.metadata.finalizers?.includes(FINALIZER)) return {};
    const remaining = await cleanup(ctx.client, namespace, name, { keepReport: false });
    if (remaining > 0) return { requeueAfterMillis: 1000, phase: 'Deleting' };
    await removeFinalizer(ctx.client, cx);
    ctx.log('info', `${namespace}/${name}: children removed, finalizer released`);
    return { phase: 'Deleted' };
  }

  // The finalizer goes on before the first child exists, so no child can outlive us unseen.
  let current = cx;
  if (!cx.metadata.finalizers?.includes(FINALIZER)) {
    current = { ...(await ctx.client.applyFinalizer(cx, FINALIZER)), status: cx.status } as ConcurrencyExperiment;
  }

  const { experiment, problems } = specProblems(current);
  if (!experiment) {
    const message = `invalid spec (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems.join('; ')}`;
    const degraded = current.status?.conditions?.find((c) => c.type === 'Degraded');
    if (
      current.status?.observedGeneration === current.metadata.generation &&
      degraded?.reason === Reason.InvalidSpec &&
      degraded.message === message
    ) {
      return { phase: 'Failed' }; // Already reported; our own status write brought us here.
    }
    await cleanup(ctx.client, namespace, name, { keepReport: true });
    await writeStatus(ctx, current, {
      phase: 'Failed',
      reason: Reason.InvalidSpec,
      message,
    });
    // Terminal: reported in status; only a new spec (a new event) brings us back.
    throw new ControllerError(ErrorKind.InvalidSpec, `${namespace}/${name}: ${message}`, { terminal: true });
  }

  if (experiment.spec.schedule) return reconcileScheduled(ctx, current, experiment, experiment.spec.schedule);

  const observed = ctx.observe(namespace, name);
  const decision = decidePhase({
    cx: experiment,
    pods: observed.pods,
    configMaps: observed.configMaps,
    services: observed.services,
    nowMillis: ctx.now(),
    ctx: ctx.podContext,
    timeouts: ctx.timeouts,
    parseMillis: parseDurationMillis,
    environment: ctx.environment,
  });
  if (decision.phase === 'Failed') {
    // Status first: once the children are gone it is the only record of why the run failed.
    await writeStatus(ctx, current, decision);
    await act(ctx, experiment, decision);
  } else {
    await act(ctx, experiment, decision);
    await writeStatus(ctx, current, decision);
  }
  return {
    ...(decision.requeueAfterMillis === undefined ? {} : { requeueAfterMillis: decision.requeueAfterMillis }),
    phase: decision.phase,
  };
}

/**
 * A scheduled experiment: runs like a one-shot one, once per due cron tick (decideSchedule),
 * each run with children of its own (names carry the run id, see runOf). A finished run is
 * recorded at the head of status.history with its report ConfigMap; reports that fall out of
 * history are deleted. Between runs the reconcile requeues for the next tick.
 */
/** A far tick (a monthly cron) is re-checked at this interval: timers cannot wait 2^31 ms. */
export const MAX_SCHEDULE_REQUEUE_MILLIS = 15 * 60_000;

async function reconcileScheduled(
  ctx: ReconcileContext,
  current: ConcurrencyExperiment,
  experiment: ConcurrencyExperiment,
  schedule: string,
): Promise<Action> {
  const namespace = experiment.metadata.namespace ?? 'default';
  const name = experiment.metadata.name;
  // Every step below is a function of the status: take it only from the status the API server
  // holds, never from a cache still missing our own last write (see cache-lag.ts).
  if (lagsBehind(current, await ctx.client.getExperiment(namespace, name))) return { requeueAfterMillis: 1000 };
  const status = experiment.status ?? {};
  const nowMillis = ctx.now();
  const lastTick = status.lastScheduleTime ? Date.parse(status.lastScheduleTime) : Number.NaN;
  const degradedReason = status.conditions?.find((c) => c.type === 'Degraded')?.reason;
  // A spec once rejected (InvalidSpec) is not a finished run: the fixed spec waits for its tick.
  const finished = status.phase === 'Succeeded' || (status.phase === 'Failed' && degradedReason !== Reason.InvalidSpec);
  const inProgress = Number.isFinite(lastTick) && !finished;
  const created = timeMillis(experiment.metadata.creationTimestamp);
  let sched: ScheduleDecision;
  try {
    sched = decideSchedule({
      schedule,
      createdMillis: Number.isFinite(created) ? created : nowMillis,
      ...(Number.isFinite(lastTick) ? { lastScheduleMillis: lastTick } : {}),
      runInProgress: inProgress,
      nowMillis: ctx.scheduleNow?.() ?? nowMillis,
    });
  } catch (err) {
    const message = `invalid spec: spec.schedule: "${schedule}" is not a cron expression (${(err as Error).message}); use five fields such as "0 3 * * *"`;
    await writeStatus(ctx, current, { phase: 'Failed', reason: Reason.InvalidSpec, message });
    throw new ControllerError(ErrorKind.InvalidSpec, `${namespace}/${name}: ${message}`, { terminal: true });
  }
  const observed = ctx.observe(namespace, name);
  const phaseOf = (cx: ConcurrencyExperiment) =>
    decidePhase({
      cx,
      pods: observed.pods,
      configMaps: observed.configMaps,
      services: observed.services,
      nowMillis,
      ctx: ctx.podContext,
      timeouts: ctx.timeouts,
      parseMillis: parseDurationMillis,
      environment: ctx.environment,
    });
  const carried = {
    ...(status.results ? { results: status.results } : {}),
    ...(status.verdict ? { verdict: status.verdict } : {}),
    ...(status.sizing ? { sizing: status.sizing } : {}),
    ...(status.reportRef ? { reportRef: status.reportRef } : {}),
  };

  let decision: PhaseDecision;
  let runCx = experiment;
  let newRun = false;
  if (sched.startRunForTickMillis !== undefined) {
    // A fresh run: its own names (from the tick), and no phase of the previous run to inherit.
    const tick = rfc3339(new Date(sched.startRunForTickMillis));
    runCx = { ...experiment, status: { lastScheduleTime: tick } };
    decision = phaseOf(runCx);
    newRun = true;
    ctx.log('info', `${namespace}/${name}: schedule "${schedule}" tick ${tick}: starting run ${runOf(runCx)}`);
  } else if (inProgress) {
    decision = phaseOf(experiment);
  } else if (finished) {
    // Between runs: the finished run's status stays as it is; only stragglers are tidied.
    const reason = (status.phase === 'Failed' ? 'Degraded' : 'Ready') as string;
    const cond = status.conditions?.find((c) => c.type === reason);
    decision = {
      apply: [],
      remove: [
        ...observed.pods.filter((p) => !p.metadata?.deletionTimestamp).map((p) => podRef(p.metadata?.name)),
        ...observed.configMaps
          .filter((c) => c.metadata?.labels?.[LABEL_ROLE] !== 'report')
          .map((c) => cmRef(c.metadata?.name)),
        ...observed.services.map((sv) => ({ kind: 'Service' as const, name: sv.metadata?.name ?? '' })),
      ],
      ensureToken: false,
      phase: status.phase as 'Succeeded' | 'Failed',
      reason: (cond?.reason as Reason | undefined) ?? Reason.Completed,
      message: cond?.message ?? 'run finished',
      ...(status.currentVariant !== undefined ? { currentVariant: status.currentVariant } : {}),
      ...(status.currentTrial !== undefined ? { currentTrial: status.currentTrial } : {}),
    };
  } else {
    decision = {
      apply: [],
      remove: [],
      ensureToken: false,
      phase: 'Pending',
      reason: Reason.WaitingForSchedule,
      message: `schedule "${schedule}" (UTC): next run at ${rfc3339(new Date(sched.nextTickMillis))}`,
    };
  }

  // A run that ends now goes to the head of history (newest first, at most historyLimit).
  let history = status.history;
  const endsNow = (decision.phase === 'Succeeded' || decision.phase === 'Failed') && (inProgress || newRun);
  if (endsNow) {
    history = recordRun(
      status.history,
      {
        startTime: (!newRun && status.startTime) || rfc3339(new Date(nowMillis)),
        completionTime: rfc3339(new Date(nowMillis)),
        phase: decision.phase,
        ...(decision.verdict?.winner ? { winner: decision.verdict.winner } : {}),
        ...(decision.phase === 'Succeeded' && decision.reportRef ? { reportRef: decision.reportRef.configMap } : {}),
      },
      experiment.spec.historyLimit,
    );
  }
  // A run that succeeds now is judged against the earlier runs' reports (Regressed).
  const regression =
    endsNow && decision.phase === 'Succeeded' && decision.reportRef
      ? await judgeRun(ctx, experiment, observed.configMaps, decision.reportRef.configMap, status.history ?? [])
      : undefined;
  const latestReport = decision.reportRef ?? status.reportRef;
  const reports = observed.configMaps
    .filter((c) => c.metadata?.labels?.[LABEL_ROLE] === 'report' && !c.metadata.deletionTimestamp)
    .map((c) => c.metadata?.name ?? '');
  for (const stale of reportsToDelete(reports, history ?? [], [
    latestReport?.configMap,
    reportConfigMapName(name, runOf(runCx)),
  ])) {
    decision.remove.push(cmRef(stale));
  }

  const lastScheduleTime = runCx.status?.lastScheduleTime;
  const input = {
    ...carried,
    ...decision,
    ...(lastScheduleTime ? { lastScheduleTime } : {}),
    ...(history ? { history } : {}),
    ...(regression ? { regression } : {}),
    newRun,
  };
  if (decision.phase === 'Failed') {
    await writeStatus(ctx, current, input);
    await act(ctx, runCx, decision);
  } else {
    await act(ctx, runCx, decision);
    await writeStatus(ctx, current, input);
  }
  if (regression?.reason === Reason.RegressionDetected || regression?.reason === Reason.RegressionCleared) {
    // The hook for alerting: a Warning with the numbers when a run regressed, a Normal when it is back.
    const type = regression.status === 'True' ? 'Warning' : 'Normal';
    ctx.log(
      regression.status === 'True' ? 'warn' : 'info',
      `${namespace}/${name}: ${regression.reason}: ${regression.message}`,
    );
    await ctx.client
      .recordEvent(current, type, regression.reason, regression.message, new Date(ctx.now()))
      .catch((err: unknown) => ctx.log('warn', `event not recorded: ${(err as Error).message}`));
  }
  // A tick missed while the run went on is due as soon as it ends: look again shortly.
  const requeues = [sched.requeueAfterMillis, decision.requeueAfterMillis ?? Number.POSITIVE_INFINITY];
  if (endsNow) requeues.push(1000);
  return { requeueAfterMillis: Math.max(1, Math.min(...requeues, MAX_SCHEDULE_REQUEUE_MILLIS)), phase: decision.phase };
}

/** A run's JSON report, from the cache or else the API server; undefined when it cannot be read. */
async function readReport(ctx: ReconcileContext, namespace: string, cached: V1ConfigMap[], name: string) {
  const text =
    cached.find((c) => c.metadata?.name === name)?.data?.[REPORT_KEY] ??
    (await ctx.client.getConfigMap(namespace, name))?.data?.[REPORT_KEY];
  if (text === undefined) return undefined;
  try {
    return parseJsonReport(text);
  } catch {
    return undefined;
  }
}

/**
 * The Regressed condition for a run that just succeeded: its report against the reports of the
 * earlier runs status.history keeps (analysis/regression.ts). A report that cannot be read is
 * left out and said so; with none left there is no baseline.
 */
async function judgeRun(
  ctx: ReconcileContext,
  cx: ConcurrencyExperiment,
  cached: V1ConfigMap[],
  reportName: string,
  history: RunRecord[],
): Promise<StatusInput['regression']> {
  const namespace = cx.metadata.namespace ?? 'default';
  const current = await readReport(ctx, namespace, cached, reportName);
  if (!current) return undefined;
  const earlier: RunFigures[] = [];
  const unread: string[] = [];
  for (const r of history) {
    if (r.phase !== 'Succeeded' || !r.reportRef || r.reportRef === reportName) continue;
    const report = await readReport(ctx, namespace, cached, r.reportRef).catch(() => undefined);
    if (report) earlier.push(runFiguresOf(report, r.startTime));
    else unread.push(r.reportRef);
  }
  // Unknown (the last run was not judged): recomputed from the history instead.
  const last = cx.status?.conditions?.find((c) => c.type === ConditionType.Regressed)?.status;
  const previouslyRegressed = last === 'True' ? true : last === 'False' ? false : undefined;
  let result: ReturnType<typeof detectRegression>;
  try {
    result = detectRegression(earlier, runFiguresOf(current, current.run.startedAt), {
      ...(previouslyRegressed === undefined ? {} : { previouslyRegressed }),
    });
  } catch (err) {
    // Same reports, same outcome: retrying cannot help, so the run is recorded as not judged.
    return { status: 'Unknown', reason: Reason.NotJudged, message: `not judged: ${(err as Error).message}` };
  }
  const skipped = unread.length > 0 ? ` (reports not readable, left out: ${unread.join(', ')})` : '';
  const message = `${result.message}${skipped}`;
  switch (result.status) {
    case 'regressed':
      return { status: 'True', reason: Reason.RegressionDetected, message };
    case 'cleared':
      return { status: 'False', reason: Reason.RegressionCleared, message };
    case 'ok':
      return { status: 'False', reason: Reason.WithinRange, message };
    case 'not-judged':
      return { status: 'Unknown', reason: Reason.NotJudged, message };
    default:
      return { status: 'False', reason: Reason.NoBaseline, message };
  }
}

function podRef(name: string | undefined): ChildRef {
  return { kind: 'Pod', name: name ?? '' };
}

function cmRef(name: string | undefined): ChildRef {
  return { kind: 'ConfigMap', name: name ?? '' };
}

async function act(ctx: ReconcileContext, cx: ConcurrencyExperiment, decision: PhaseDecision): Promise<void> {
  const namespace = cx.metadata.namespace ?? 'default';
  if (decision.ensureToken) await ensureToken(ctx.client, cx);
  for (const child of decision.apply) await applyChild(ctx.client, child);
  for (const ref of decision.remove) {
    if (ref.kind === 'Pod') await ctx.client.deletePod(namespace, ref.name);
    else if (ref.kind === 'ConfigMap') await ctx.client.deleteConfigMap(namespace, ref.name);
    else if (ref.kind === 'Service') await ctx.client.deleteService(namespace, ref.name);
    else await ctx.client.deleteSecret(namespace, ref.name);
  }
}

async function applyChild(client: KubeClient, child: Child): Promise<void> {
  if (child.kind === 'Pod') await client.applyPod(child as V1Pod);
  else if (child.kind === 'ConfigMap') await client.applyConfigMap(child as V1ConfigMap);
  else if (child.kind === 'Service') await client.applyService(child as V1Service);
  else await client.applySecret(child as V1Secret);
}

/**
 * The bearer token load pods present with their results. Created once, never re-applied:
 * a new random value would lock out a load pod that already read the old one.
 */
async function ensureToken(client: KubeClient, cx: ConcurrencyExperiment): Promise<void> {
  const namespace = cx.metadata.namespace ?? 'default';
  const name = tokenSecretName(cx.metadata.name);
  if (await client.getSecret(namespace, name)) return;
  try {
    await client.core.createNamespacedSecret({
      namespace,
      fieldManager: 'conclab-operator',
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace,
          labels: childLabels(cx.metadata.name, 'token', cx.metadata.generation ?? 0),
          ownerReferences: [ownerReference(cx)],
        },
        type: 'Opaque',
        stringData: { token: randomBytes(24).toString('base64url') },
      },
    });
  } catch (err) {
    if (statusCodeOf(err) !== 409) throw err;
  }
}

async function writeStatus(
  ctx: ReconcileContext,
  cx: ConcurrencyExperiment,
  input: Parameters<typeof buildStatus>[1],
): Promise<void> {
  const now = new Date(ctx.now());
  const status = buildStatus(cx, input, now);
  if (status.phase === 'Succeeded') {
    // Idempotent, so also after an operator restart: the gauges show the last finished run.
    const regressed = status.conditions?.find((c) => c.type === ConditionType.Regressed)?.status;
    const figures = experimentFigures(
      { metadata: cx.metadata, status },
      regressed === undefined || regressed === 'Unknown' ? undefined : regressed === 'True',
    );
    if (figures) ctx.metrics?.recordExperiment(figures);
  }
  if (!statusDiffers(cx.status, status)) return;
  await ctx.client.applyStatus(cx, status);
  // An Event per transition (phase or reason), for `kubectl describe cx`; never fails the reconcile.
  const reasonOf = (s: typeof cx.status) =>
    s?.conditions?.find(
      (c) => c.type === (s.phase === 'Failed' ? 'Degraded' : s.phase === 'Succeeded' ? 'Ready' : 'Progressing'),
    )?.reason;
  const before = `${cx.status?.phase}/${reasonOf(cx.status)}/${cx.status?.currentVariant}/${cx.status?.currentTrial}`;
  const after = `${status.phase}/${input.reason}/${status.currentVariant}/${status.currentTrial}`;
  if (before !== after) {
    const type = input.phase === 'Failed' ? 'Warning' : 'Normal';
    await ctx.client
      .recordEvent(cx, type, input.reason, input.message, now)
      .catch((err: unknown) => ctx.log('warn', `event not recorded: ${(err as Error).message}`));
  }
}

/**
 * Deletes every child (listed fresh from the API server, not from a cache) and returns how
 * many are still there. Idempotent and safe when nothing was ever created.
 */
export async function cleanup(
  client: KubeClient,
  namespace: string,
  experiment: string,
  options: { keepReport: boolean },
): Promise<number> {
  const selector = childSelector(experiment);
  const [pods, configMaps, services] = await Promise.all([
    client.listPods(namespace, selector),
    client.listConfigMaps(namespace, selector),
    client.listServices(namespace, selector),
  ]);
  const cms = configMaps.filter((c) => !(options.keepReport && c.metadata?.labels?.['conclab.dev/role'] === 'report'));
  for (const p of pods) if (!p.metadata?.deletionTimestamp) await client.deletePod(namespace, p.metadata?.name ?? '');
  for (const c of cms) await client.deleteConfigMap(namespace, c.metadata?.name ?? '');
  for (const sv of services) await client.deleteService(namespace, sv.metadata?.name ?? '');
  await client.deleteSecret(namespace, tokenSecretName(experiment));
  const [podsLeft, cmsLeft, servicesLeft] = await Promise.all([
    client.listPods(namespace, selector),
    client.listConfigMaps(namespace, selector),
    client.listServices(namespace, selector),
  ]);
  return (
    podsLeft.length +
    servicesLeft.length +
    cmsLeft.filter((c) => !(options.keepReport && c.metadata?.labels?.['conclab.dev/role'] === 'report')).length
  );
}

/** JSON patch `test` + `remove`: if the list changed since we read it, the patch fails (409/422) and we retry. */
async function removeFinalizer(client: KubeClient, cx: ConcurrencyExperiment): Promise<void> {
  const index = cx.metadata.finalizers?.indexOf(FINALIZER) ?? -1;
  if (index < 0) return;
  try {
    await client.jsonPatchExperiment(cx.metadata.namespace ?? 'default', cx.metadata.name, [
      { op: 'test', path: `/metadata/finalizers/${index}`, value: FINALIZER },
      { op: 'remove', path: `/metadata/finalizers/${index}` },
    ]);
  } catch (err) {
    if (err instanceof ControllerError && err.kind === ErrorKind.NotFound) return;
    if (err instanceof ControllerError && (err.statusCode === 422 || err.statusCode === 409)) {
      throw new ControllerError(ErrorKind.Conflict, `finalizers of ${cx.metadata.name} changed meanwhile; retrying`, {
        cause: err,
      });
    }
    throw err;
  }
}
