// Shared by the blast-radius theory checks: one short experiment through the real engine
// (runExperiment), the local runtime (cgroups where this machine has them), the built-in load
// driver and the real Node workload, with spans sent to a real OTLP receiver. Load is far below
// capacity (io profile: each request awaits 5 ms and burns next to no CPU), so the 2-core
// shared machine is not what limits throughput and a dip is the fault's doing.
import type { ExecutionContext } from 'ava';
import { type BlastRadius, blastRadiusOfTrial } from '../../operator/analysis/blast-radius.ts';
import type { FaultKind } from '../../operator/api/schema.ts';
import { parseDurationMillis } from '../../operator/api/units.ts';
import { parseExperiment } from '../../operator/api/validate.ts';
import type { TrialRecord } from '../../operator/contracts/records.ts';
import { describeEnvironment } from '../../operator/engine/environment.ts';
import { type EngineEvent, runExperiment } from '../../operator/engine/run-experiment.ts';
import { runBuiltinLoad } from '../../operator/load/builtin.ts';
import { createLocalRuntime } from '../../operator/runtime/local/index.ts';
import { startTraceReceiver } from '../../operator/telemetry/receiver.ts';

/** The schedule every check uses: the fault lands 3 s into a 9 s measured window. */
export const RATE = 40;
export const FAULT_AT_SECONDS = 3;
export const WORKERS = 4;
/** Asked for worker 5 of 4: the engine must take it modulo the worker count, i.e. worker 1. */
export const TARGET_WORKER = 5;
export const EXPECTED_WORKER = TARGET_WORKER % WORKERS;

export interface FaultTrial {
  record: TrialRecord;
  blast: BlastRadius;
  /** Completed requests per second from the fault's second on (measured window only). */
  afterFault: number[];
}

export async function runFaultExperiment(
  t: ExecutionContext,
  kind: FaultKind,
): Promise<{ processes: FaultTrial; threads: FaultTrial; warnings: string[] }> {
  const experiment = parseExperiment(`
apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata: {name: blast-${kind}}
spec:
  workload: {runtime: node, profile: io, ioWait: 5ms}
  resources: {cpu: "1", memory: 512Mi}
  variants:
    - {name: processes, model: process, workers: ${WORKERS}}
    - {name: threads, model: thread, workers: ${WORKERS}}
  load: {pattern: constant-arrival-rate, rate: ${RATE}, duration: 9s, warmUp: 1s, timeout: 1s}
  faults:
    - {kind: ${kind}, at: ${FAULT_AT_SECONDS}s, target: {worker: ${TARGET_WORKER}}}
  tracing: {sampleRatio: 1}
  trials: 1
`);
  const runtime = createLocalRuntime({ readyTimeoutMillis: 60_000, stopGraceMillis: 3000 });
  t.teardown(() => runtime.cleanup());
  const receiver = await startTraceReceiver();
  t.teardown(() => receiver.close());
  const warnings: string[] = [];
  const run = await runExperiment({
    experiment,
    runtime,
    drive: (plan) => runBuiltinLoad(plan),
    receiver,
    receiverToken: receiver.token,
    parseMillis: parseDurationMillis,
    environment: describeEnvironment({ runtime: runtime.name, cgroupVersion: runtime.cgroupVersion, warnings: [] }),
    restartWaitMillis: 60_000,
    onEvent: (e: EngineEvent) => {
      if (e.type === 'warning') warnings.push(e.message);
    },
  });
  const trial = (variant: string): FaultTrial => {
    const record = run.trials.find((r) => r.variant === variant);
    if (!record) throw new Error(`no trial of ${variant}`);
    const [blast] = blastRadiusOfTrial(record);
    if (!blast) throw new Error(`no fault recorded in ${variant}: ${JSON.stringify(record.faults)}; ${warnings}`);
    const faultSecond = Math.floor(blast.faultOffsetSeconds);
    // Seconds past the measured window only drain (nothing is sent in them): left out.
    const windowSeconds = Math.ceil((record.load.endedAtMillis - record.load.startedAtMillis) / 1000);
    const afterFault = record.load.perSecond
      .filter((s) => s.second >= faultSecond && s.second < windowSeconds)
      .map((s) => s.completed);
    t.log(
      `${variant}: ${JSON.stringify({ ...blast, timeline: undefined, fault: undefined })}\n  ok/s ${record.load.perSecond.map((s) => s.completed).join(' ')}\n  err/s ${record.load.perSecond.map((s) => s.errors).join(' ')}\n  events ${record.events.map((e) => `${((e.atMillis - record.load.startedAtMillis) / 1000).toFixed(1)}s ${e.kind}${e.worker === undefined ? '' : ` w${e.worker}`}`).join(', ')}`,
    );
    return { record, blast, afterFault };
  };
  return { processes: trial('processes'), threads: trial('threads'), warnings };
}

/** The engine's link: exactly one fault, on the wrapped worker index, at about its time. */
export function assertInjectedOnce(t: ExecutionContext, trial: FaultTrial, kind: FaultKind): void {
  const { record, blast } = trial;
  t.is(record.faults.length, 1, 'exactly one fault recorded');
  t.like(record.faults[0], { kind, worker: EXPECTED_WORKER });
  // Scheduled at warm-up + 3 s; a busy machine may fire the timer late, never early.
  t.true(
    blast.faultOffsetSeconds >= FAULT_AT_SECONDS - 0.2 && blast.faultOffsetSeconds <= FAULT_AT_SECONDS + 1,
    `fault at ${blast.faultOffsetSeconds} s into the measured window, expected about ${FAULT_AT_SECONDS} s`,
  );
  t.true(blast.measurable, blast.reason ?? '');
  // Load well below capacity: the baseline is the offered rate (tolerance 20%).
  t.true(blast.baselineThroughput >= RATE * 0.8, `baseline ${blast.baselineThroughput} req/s of ${RATE} offered`);
}

export function eventsOf(trial: FaultTrial, kind: string): TrialRecord['events'] {
  return trial.record.events.filter((e) => e.kind === kind && e.atMillis >= trial.record.faults[0]!.atMillis);
}
