// Runs one LoadPlan on several generator processes and merges their parts exactly.
//
// Why processes, not worker_threads: a generator must be pinned to a CPU outside the
// workloads' budget, and Node offers no way to set a thread's affinity (a worker's OS thread
// id is not even visible from JS), while a process is pinned by starting it under
// `taskset -c CPU`. A process also has its own heap and GC, so one generator's collection
// never stalls another's schedule.
//
// Generator g of N sends requests g, g+N, g+2N, ... of the single schedule (their union is
// exactly that schedule, targets included: request i goes to targets[i % targets.length]),
// each with maxInFlight / N of the cap. They share time 0, an epoch time set once all have
// loaded, so their per-second rows line up and add by second.
import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { findOnPath } from './k6-runner.ts';
import { type LoadPart, mergeLoadParts } from './merge.ts';
import { LoadPlanError } from './plan-validation.ts';
import { combinedProgress, sharePlan } from './share.ts';
import type { BuiltinLoadOptions, LoadPlan, LoadProgress, LoadResult } from './types.ts';

export { generatorCap } from './share.ts';

/** What a generator process is told, and what it answers (generator-process.ts). */
export type ToGenerator =
  | {
      type: 'start';
      plan: Omit<LoadPlan, 'onProgress' | 'signal'>;
      options: Omit<BuiltinLoadOptions, 'cpus'>;
      share: { index: number; count: number };
      startAtEpochMillis: number;
      progress: boolean;
    }
  | { type: 'abort' };
export type FromGenerator =
  | { type: 'ready' }
  | { type: 'progress'; progress: LoadProgress }
  | { type: 'part'; part: LoadPart }
  | { type: 'error'; message: string };

/** Time for every generator to load its modules before the run starts. */
const READY_TIMEOUT_MILLIS = 30_000;
/** Time 0 lies this far after the last generator is ready, so the start message reaches all. */
const START_LEAD_MILLIS = 100;

const GENERATOR_SCRIPT = new URL('./generator-process.ts', import.meta.url).pathname;

interface Generator {
  child: ChildProcess;
  stderr: string;
  exited: Promise<number | null>;
}

function startGenerator(cpu: number | undefined, taskset: string | undefined): Generator {
  const command = cpu !== undefined ? (taskset as string) : process.execPath;
  const args = cpu !== undefined ? ['-c', String(cpu), process.execPath, GENERATOR_SCRIPT] : [GENERATOR_SCRIPT];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const g: Generator = {
    child,
    stderr: '',
    exited: new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    }),
  };
  child.stderr?.on('data', (d: Buffer) => {
    g.stderr = (g.stderr + d.toString()).slice(-2000);
  });
  return g;
}

export async function runGenerators(plan: LoadPlan, options: BuiltinLoadOptions = {}): Promise<LoadResult> {
  return (await runGeneratorParts(plan, options)).result;
}

/** The merged result and the part of each generator (by index), for checks of the merge. */
export async function runGeneratorParts(
  plan: LoadPlan,
  options: BuiltinLoadOptions = {},
): Promise<{ result: LoadResult; parts: LoadPart[] }> {
  const count = plan.generators ?? 1;
  const cpus = options.cpus ?? [];
  for (const cpu of cpus) {
    if (!(Number.isInteger(cpu) && cpu >= 0)) {
      throw new LoadPlanError(
        `invalid load plan: cpus holds ${cpu}; give CPU numbers (0, 1, ...) to pin generators to`,
      );
    }
  }
  const taskset = cpus.length > 0 ? await findOnPath('taskset', process.env.PATH ?? '') : undefined;
  if (cpus.length > 0 && !taskset) {
    throw new LoadPlanError(
      'generators are to be pinned to CPUs but no "taskset" is on PATH; install util-linux or pass no cpus',
    );
  }
  const { onProgress, signal, onTimeZero } = plan;
  const { onProgress: _onProgress, signal: _signal, onTimeZero: _onTimeZero, ...share } = sharePlan(plan, count);
  const { cpus: _cpus, ...childOptions } = options;

  const generators = Array.from({ length: count }, (_, g) =>
    startGenerator(cpus.length > 0 ? cpus[g % cpus.length] : undefined, taskset),
  );
  const parts: (LoadPart | undefined)[] = new Array(count).fill(undefined);
  const latest: (LoadProgress | undefined)[] = new Array(count).fill(undefined);
  const problems: string[] = [];
  const send = (g: Generator, m: ToGenerator) => {
    if (g.child.connected) g.child.send(m);
  };
  const onAbort = () => {
    for (const g of generators) send(g, { type: 'abort' });
  };
  try {
    // Every generator has loaded (ready) before time 0 is set.
    let ready = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`load generators did not start within ${READY_TIMEOUT_MILLIS / 1000} s`)),
        READY_TIMEOUT_MILLIS,
      );
      generators.forEach((g, index) => {
        g.child.on('message', (m: FromGenerator) => {
          if (m.type === 'ready' && ++ready === count) {
            clearTimeout(timer);
            resolve();
          } else if (m.type === 'part') parts[index] = m.part;
          else if (m.type === 'error') problems.push(`generator ${index}: ${m.message}`);
          else if (m.type === 'progress') {
            latest[index] = m.progress;
            // Generator 0 paces the progress display; the figures are the sums of all.
            if (index === 0 && onProgress) reportProgress(onProgress, latest);
          }
        });
        g.exited.then((code) => {
          if (ready < count) {
            clearTimeout(timer);
            reject(new Error(`load generator ${index} exited with code ${code} before it started: ${g.stderr.trim()}`));
          }
        });
      });
    });
    const startAtEpochMillis = Math.round(performance.timeOrigin + performance.now()) + START_LEAD_MILLIS;
    try {
      onTimeZero?.(startAtEpochMillis);
    } catch {
      // A caller's timing hook must not break a measurement.
    }
    generators.forEach((g, index) => {
      send(g, {
        type: 'start',
        plan: share,
        options: childOptions,
        share: { index, count },
        startAtEpochMillis,
        progress: onProgress !== undefined,
      });
    });
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const codes = await Promise.all(generators.map((g) => g.exited));
    const missing = parts.flatMap((p, i) => (p === undefined ? [i] : []));
    if (missing.length > 0) {
      const detail = missing
        .map(
          (i) =>
            problems.find((p) => p.startsWith(`generator ${i}:`)) ??
            `generator ${i} exited with code ${codes[i]}: ${generators[i]?.stderr.trim()}`,
        )
        .join('; ');
      throw new Error(`load generator(s) ended without a result: ${detail}`);
    }
    const merged = mergeLoadParts(parts as LoadPart[]).result;
    return { result: { ...merged, generators: count }, parts: parts as LoadPart[] };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    for (const g of generators) if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
    await Promise.all(generators.map((g) => g.exited));
  }
}

function reportProgress(onProgress: (p: LoadProgress) => void, latest: readonly (LoadProgress | undefined)[]): void {
  const progress = combinedProgress(latest);
  if (!progress) return;
  try {
    onProgress(progress);
  } catch {
    // A broken progress display must not break a measurement.
  }
}
