// Level-based reconcile: a function of the experiment and its children as they are now. It
// is never told why it runs (create, update, delete, resync, restart all look the same), so
// it checks everything each time: deletion -> cleanup; finalizer present; spec valid; then
// the kube runtime's phase machine decides children and status.

import { randomBytes } from 'node:crypto';
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import { parseDurationMillis } from '../api/units.ts';
import { checkObject } from '../api/validate.ts';
import type { Environment } from '../engine/records.ts';
import { childLabels, childSelector, FINALIZER, MAX_EXPERIMENT_NAME, tokenSecretName } from '../runtime/kube/names.ts';
import { type Child, decidePhase, type PhaseDecision, type PhaseTimeouts } from '../runtime/kube/phase-machine.ts';
import { ownerReference, type PodContext } from '../runtime/kube/pod-spec.ts';
import type { SpanAggregate } from '../telemetry/types.ts';
import { ControllerError, ErrorKind, statusCodeOf } from './errors.ts';
import type { KubeClient } from './kube-client.ts';
import { Reason } from './reasons.ts';
import { buildStatus, statusDiffers } from './status.ts';

export interface ReconcileContext {
  client: KubeClient;
  /** Children as last observed (informer caches). */
  observe(namespace: string, experiment: string): { pods: V1Pod[]; configMaps: V1ConfigMap[] };
  podContext: PodContext;
  timeouts: PhaseTimeouts;
  now(): number;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Span aggregates of an experiment from the operator's OTLP receiver, if it runs one. */
  spans?(namespace: string, experiment: string): SpanAggregate[];
  /** Recorded in reports. */
  environment?: Environment;
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
  if (cx.metadata.name.length > MAX_EXPERIMENT_NAME) {
    problems.push(
      `metadata.name: is ${cx.metadata.name.length} characters; allowed: at most ${MAX_EXPERIMENT_NAME} in a cluster (it becomes a label value of every pod)`,
    );
  }
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

  const observed = ctx.observe(namespace, name);
  const decision = decidePhase({
    cx: experiment,
    pods: observed.pods,
    configMaps: observed.configMaps,
    nowMillis: ctx.now(),
    ctx: ctx.podContext,
    timeouts: ctx.timeouts,
    parseMillis: parseDurationMillis,
    spans: ctx.spans?.(namespace, name) ?? [],
    ...(ctx.environment ? { environment: ctx.environment } : {}),
  });
  if (experiment.spec.schedule && decision.phase !== 'Failed') {
    // Not silently: a user who asked for repeats must see that this version runs once.
    decision.message = `${decision.message} (spec.schedule is not supported by this operator version: the experiment runs once)`;
  }
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

async function act(ctx: ReconcileContext, cx: ConcurrencyExperiment, decision: PhaseDecision): Promise<void> {
  const namespace = cx.metadata.namespace ?? 'default';
  if (decision.ensureToken) await ensureToken(ctx.client, cx);
  for (const child of decision.apply) await applyChild(ctx.client, child);
  for (const ref of decision.remove) {
    if (ref.kind === 'Pod') await ctx.client.deletePod(namespace, ref.name);
    else if (ref.kind === 'ConfigMap') await ctx.client.deleteConfigMap(namespace, ref.name);
    else await ctx.client.deleteSecret(namespace, ref.name);
  }
}

async function applyChild(client: KubeClient, child: Child): Promise<void> {
  if (child.kind === 'Pod') await client.applyPod(child as V1Pod);
  else if (child.kind === 'ConfigMap') await client.applyConfigMap(child as V1ConfigMap);
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
  const [pods, configMaps] = await Promise.all([
    client.listPods(namespace, selector),
    client.listConfigMaps(namespace, selector),
  ]);
  const cms = configMaps.filter((c) => !(options.keepReport && c.metadata?.labels?.['conclab.dev/role'] === 'report'));
  for (const p of pods) if (!p.metadata?.deletionTimestamp) await client.deletePod(namespace, p.metadata?.name ?? '');
  for (const c of cms) await client.deleteConfigMap(namespace, c.metadata?.name ?? '');
  await client.deleteSecret(namespace, tokenSecretName(experiment));
  const [podsLeft, cmsLeft] = await Promise.all([
    client.listPods(namespace, selector),
    client.listConfigMaps(namespace, selector),
  ]);
  return (
    podsLeft.length +
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
