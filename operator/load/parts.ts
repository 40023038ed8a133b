// One trial's load run as N parts that share its schedule, on either driver, and merged
// exactly (merge.ts). A part is one generator's share (schedule.ts's ScheduleShare and
// share.ts's cap) from a common epoch start. Who runs a part is the caller's: this process
// (runLoadPart), a load pod over HTTP (remote-generator.ts), one of several local k6 runs.
// The built-in driver's local generator processes (generators.ts) do the same over IPC.
import { type BuiltinLoadOptions, runBuiltinPart } from './builtin.ts';
import { type K6RunOptions, runK6Part } from './k6-runner.ts';
import { type LoadPart, mergeLoadParts } from './merge.ts';
import type { ScheduleShare } from './schedule.ts';
import { combinedProgress, sharePlan } from './share.ts';
import type { LoadSlo } from './slo.ts';
import type { LoadPlan, LoadProgress, LoadResult } from './types.ts';

export type LoadDriverName = 'builtin' | 'k6';
export const LOAD_DRIVERS: readonly LoadDriverName[] = ['builtin', 'k6'];

export interface RunLoadOptions {
  /** Used by k6 for its thresholds; the built-in driver reports figures and leaves judging to analysis. */
  slo?: LoadSlo;
  builtin?: BuiltinLoadOptions;
  k6?: Omit<K6RunOptions, 'slo' | 'share' | 'startAtEpochMillis' | 'cpu'>;
  /**
   * CPUs outside the workloads' budget for the generators of plan.generators > 1 (generator g
   * on cpus[g % cpus.length]); for the built-in driver the same as builtin.cpus.
   */
  cpus?: number[];
}

/** Which share of the schedule a part is, and the epoch ms at which every part's time 0 falls. */
export interface PartSpec {
  share: ScheduleShare;
  startAtEpochMillis: number;
}

/** Runs one part; the plan is the whole trial's, the part says which share of it. */
export type PartRunner = (plan: LoadPlan, part: PartSpec) => Promise<LoadPart>;

/** One share of a plan, in this process (the built-in driver) or as one k6 run. */
export function runLoadPart(
  plan: LoadPlan,
  driver: LoadDriverName,
  part: PartSpec,
  options: RunLoadOptions & { cpu?: number } = {},
): Promise<LoadPart> {
  const share = sharePlan(plan, part.share.count);
  switch (driver) {
    case 'builtin': {
      // A share runs on this event loop: `cpus` would start generator processes.
      const { cpus: _cpus, ...builtin } = options.builtin ?? {};
      return runBuiltinPart(share, { ...builtin, share: part.share, startAtEpochMillis: part.startAtEpochMillis });
    }
    case 'k6':
      // k6 divides the VUs itself (execution segments): it gets the whole cap of the plan.
      return runK6Part(
        { ...share, maxInFlight: plan.maxInFlight },
        {
          ...options.k6,
          ...(options.slo ? { slo: options.slo } : {}),
          share: part.share,
          startAtEpochMillis: part.startAtEpochMillis,
          ...(options.cpu !== undefined ? { cpu: options.cpu } : {}),
        },
      );
    default:
      return Promise.reject(
        new Error(`unknown load driver ${JSON.stringify(driver)}; use load.driver: builtin or load.driver: k6`),
      );
  }
}

/**
 * Runs the plan as runners.length parts, generator g running share g of N, all from a common
 * start `leadMillis` from now, and merges them exactly. One part failing aborts the others and
 * fails the run naming it: a result without one share would not be the plan's rate. An abort
 * of the plan reaches every part; their partial parts are merged.
 */
export async function runParts(
  plan: LoadPlan,
  runners: readonly PartRunner[],
  leadMillis: number,
): Promise<{ result: LoadResult; parts: LoadPart[] }> {
  const count = runners.length;
  if (count === 0) throw new Error('runParts: no generator to run the plan');
  const { onProgress, signal, onTimeZero, generators: _generators, ...rest } = plan;
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const latest: (LoadProgress | undefined)[] = new Array(count).fill(undefined);
  const startAtEpochMillis = Date.now() + leadMillis;
  try {
    onTimeZero?.(startAtEpochMillis);
  } catch {
    // A caller's timing hook must not break a measurement.
  }
  const failed: string[] = [];
  try {
    const settled = await Promise.allSettled(
      runners.map((run, index) => {
        const partPlan: LoadPlan = {
          ...rest,
          signal: controller.signal,
          ...(onProgress
            ? {
                onProgress: (p: LoadProgress) => {
                  latest[index] = p;
                  // Generator 0 paces the display; the figures are the sums of all.
                  const sum = index === 0 ? combinedProgress(latest) : undefined;
                  try {
                    if (sum) onProgress(sum);
                  } catch {
                    // A broken progress display must not break a measurement.
                  }
                },
              }
            : {}),
        };
        return run(partPlan, { share: { index, count }, startAtEpochMillis }).catch((err: unknown) => {
          failed.push(`generator ${index}: ${err instanceof Error ? err.message : String(err)}`);
          controller.abort();
          throw err;
        });
      }),
    );
    if (failed.length > 0) throw new Error(`load generator(s) failed: ${failed.join('; ')}`);
    const parts = settled.map((s) => (s as PromiseFulfilledResult<LoadPart>).value);
    const merged = mergeLoadParts(parts).result;
    return { result: { ...merged, generators: count }, parts };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
