// Runs a LoadPlan with k6 as an external program. k6 is AGPL: conclab generates a script,
// starts the `k6` found on PATH, and reads back what it wrote; no k6 code is imported,
// vendored or built. When k6 is absent the run stops before anything is created.
//
// k6 writes every request as a sample (--out json, gzipped), from which the result is built
// exactly (k6-samples.ts); the summary is the fallback when the samples are missing or cut
// (k6 killed), and that result says its histogram is approximate.
//
// One generator of several (spec.load.generators, in a load pod or locally) runs the same
// script with k6's execution segments: `--execution-segment i/N:(i+1)/N` of the sequence
// 0, 1/N, ..., 1 makes k6 run its share of every arrival-rate scenario's iterations and of
// its VUs, and keeps exec.scenario.iterationInTest unique across the N instances, so the
// union of the shares is the one schedule and the targets' round-robin holds over all of them.
// All start at a common epoch time, and their parts' seconds are counted from it.
import { spawn } from 'node:child_process';
import { constants, createReadStream } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { K6SamplesParser } from './k6-samples.ts';
import { generateK6Script } from './k6-script.ts';
import { parseK6Summary } from './k6-summary.ts';
import type { LoadPart } from './merge.ts';
import { validateLoadPlan } from './plan-validation.ts';
import { planSegments, rateAtMillis, type ScheduleShare } from './schedule.ts';
import { DEFAULT_SLO, type LoadSlo } from './slo.ts';
import type { LoadPlan, LoadResult } from './types.ts';

export class K6NotFoundError extends Error {
  constructor(pathEnv: string) {
    const dirs = pathEnv.split(delimiter).filter(Boolean).length;
    super(
      `load.driver is k6 but no executable "k6" was found on PATH (${dirs} directories searched). ` +
        'Install k6 from your OS packages or use load.driver: builtin.',
    );
    this.name = 'K6NotFoundError';
  }
}

export class K6RunError extends Error {
  readonly exitCode: number | null;
  constructor(message: string, exitCode: number | null) {
    super(message);
    this.name = 'K6RunError';
    this.exitCode = exitCode;
  }
}

/** k6 exits 99 when thresholds failed: the run itself completed and its summary is valid. */
export const K6_THRESHOLDS_FAILED = 99;

/** The first executable named `name` in a PATH-style list, or undefined. */
export async function findOnPath(name: string, pathEnv: string): Promise<string | undefined> {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export interface K6RunOptions {
  slo?: LoadSlo;
  /** Share of traceparent headers marked sampled (spec.tracing.sampleRatio); see k6-script.ts. */
  sampleRatio?: number;
  /** PATH to search for k6; defaults to this process's PATH. */
  pathEnv?: string;
  /** Parent of the run's temporary directory (script and summary); defaults to the OS temp dir. */
  workDir?: string;
  /** Extra time beyond warm-up + duration + timeout before k6 is killed. Default 60 s. */
  startupGraceMillis?: number;
  /** This generator's share of the schedule (k6 execution segments); default all of it. */
  share?: ScheduleShare;
  /** Epoch ms at which k6 is started, common to every generator of the run; default now. */
  startAtEpochMillis?: number;
  /** CPU to pin k6 to (taskset -c), outside the workloads' budget. */
  cpu?: number;
}

/** `i/N` as k6 reads a fraction of an execution segment (0 and 1 plain). */
function fraction(i: number, n: number): string {
  return i === 0 ? '0' : i === n ? '1' : `${i}/${n}`;
}

/** k6's flags for one share of the schedule: its execution segment of N equal ones. Pure. */
export function executionSegmentArgs(share: ScheduleShare | undefined): string[] {
  if (!share || share.count === 1) return [];
  const { index, count } = share;
  if (!(Number.isInteger(count) && Number.isInteger(index) && count >= 1 && index >= 0 && index < count)) {
    throw new RangeError(`schedule share ${index} of ${count} is not one of count generators`);
  }
  const sequence = Array.from({ length: count + 1 }, (_, i) => fraction(i, count)).join(',');
  return [
    '--execution-segment',
    `${fraction(index, count)}:${fraction(index + 1, count)}`,
    '--execution-segment-sequence',
    sequence,
  ];
}

/** The arguments of `k6 run` for a plan's script, with the execution segment of a share. Pure. */
export function k6RunArgs(samplesPath: string, scriptPath: string, share?: ScheduleShare): string[] {
  return ['run', '--quiet', '--no-color', ...executionSegmentArgs(share), '--out', `json=${samplesPath}`, scriptPath];
}

/** Keeps the last `max` characters of a stream, for error messages. */
function tail(max: number) {
  let text = '';
  return {
    add: (chunk: Buffer) => {
      text = (text + chunk.toString()).slice(-max);
    },
    get: () => text,
  };
}

export async function runK6Load(plan: LoadPlan, options: K6RunOptions = {}): Promise<LoadResult> {
  return (await runK6Part(plan, options)).result;
}

/**
 * One k6 run as a LoadPart: exact (per-second histograms) from the samples, or the summary's
 * approximate result. With a share, k6 runs that share of the plan (see the top of the file).
 */
export async function runK6Part(plan: LoadPlan, options: K6RunOptions = {}): Promise<LoadPart> {
  validateLoadPlan(plan);
  const k6 = await findOnPath('k6', options.pathEnv ?? process.env.PATH ?? '');
  if (!k6) throw new K6NotFoundError(options.pathEnv ?? process.env.PATH ?? '');
  executionSegmentArgs(options.share); // a share that is none of N fails before anything starts
  const taskset = options.cpu !== undefined ? await findOnPath('taskset', process.env.PATH ?? '') : undefined;
  if (options.cpu !== undefined && !taskset) {
    throw new K6RunError('k6 is to be pinned to a CPU but no "taskset" is on PATH; install util-linux', null);
  }
  // A common start: wait for it here (k6's own start-up then takes about as long in each).
  const wait = (options.startAtEpochMillis ?? 0) - Date.now();
  if (wait > 0) await abortableSleep(wait, plan.signal);
  if (plan.signal?.aborted) throw new K6RunError('k6 run aborted before it started', null);

  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), 'conclab-k6-'));
  try {
    const scriptPath = join(dir, 'script.js');
    const summaryPath = join(dir, 'summary.json');
    // k6 gzips its JSON output when the file name ends in .gz.
    const samplesPath = join(dir, 'samples.json.gz');
    await writeFile(
      scriptPath,
      generateK6Script(plan, {
        slo: options.slo ?? DEFAULT_SLO,
        summaryPath,
        ...(options.sampleRatio !== undefined ? { sampleRatio: options.sampleRatio } : {}),
      }),
    );

    const segments = planSegments(plan);
    const startedAt = Date.now();
    try {
      // k6's own start-up (a few hundred ms) comes on top: the closest time 0 known here.
      plan.onTimeZero?.(startedAt);
    } catch {
      // A caller's timing hook must not break a measurement.
    }
    const k6Args = k6RunArgs(samplesPath, scriptPath, options.share);
    const [command, argv] =
      options.cpu !== undefined ? [taskset as string, ['-c', String(options.cpu), k6, ...k6Args]] : [k6, k6Args];
    const child = spawn(command, argv, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, K6_NO_USAGE_REPORT: 'true' },
    });
    const stderr = tail(4000);
    child.stdout.on('data', () => {});
    child.stderr.on('data', stderr.add);

    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    // SIGINT lets k6 stop and still write its summary; SIGKILL if it does not end soon.
    const stop = () => {
      if (child.exitCode !== null) return;
      child.kill('SIGINT');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), 5000);
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    plan.signal?.addEventListener('abort', onAbort, { once: true });
    const limitMillis =
      plan.warmUpMillis + plan.durationMillis + plan.timeoutMillis + (options.startupGraceMillis ?? 60_000);
    const deadline = setTimeout(stop, limitMillis);
    const progress = setInterval(() => {
      const elapsedMillis = Date.now() - startedAt;
      try {
        // k6 reports no live counts to us; progress carries time and the intended rate.
        plan.onProgress?.({
          elapsedMillis,
          measuring: elapsedMillis >= plan.warmUpMillis,
          currentRate: rateAtMillis(segments, elapsedMillis),
          sent: 0,
          completed: 0,
          errors: 0,
        });
      } catch {
        // A broken progress display must not break a measurement.
      }
    }, 1000);

    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    }).finally(() => {
      clearTimeout(deadline);
      clearInterval(progress);
      if (killTimer) clearTimeout(killTimer);
      plan.signal?.removeEventListener('abort', onAbort);
    });
    const endedAt = Date.now();

    const text = await readFile(summaryPath, 'utf8').catch(() => undefined);
    if (text === undefined) {
      throw new K6RunError(
        `k6 exited with code ${exitCode} without writing its summary${aborted ? ' (aborted)' : ''}: ${stderr.get().trim()}`,
        exitCode,
      );
    }
    if (!aborted && exitCode !== 0 && exitCode !== K6_THRESHOLDS_FAILED) {
      throw new K6RunError(`k6 failed with exit code ${exitCode}: ${stderr.get().trim()}`, exitCode);
    }
    // Parts of one run count their seconds from the common start, so their rows add by second.
    const commonStart =
      options.startAtEpochMillis !== undefined
        ? { startedAtMillis: options.startAtEpochMillis + plan.warmUpMillis }
        : {};
    const exact = await readK6SamplesPart(samplesPath, {
      targets: plan.targets,
      timeoutMillis: plan.timeoutMillis,
      durationMillis: plan.durationMillis,
      partial: aborted,
      endedAtMillis: endedAt,
      ...commonStart,
    }).catch(() => undefined);
    if (exact) return exact;
    const measuredStart = commonStart.startedAtMillis ?? startedAt + plan.warmUpMillis;
    return {
      result: parseK6Summary(JSON.parse(text), {
        startedAtMillis: measuredStart,
        endedAtMillis: aborted ? Math.max(measuredStart, endedAt) : measuredStart + plan.durationMillis,
        partial: aborted,
      }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The exact result from k6's gzipped JSON samples, read as a stream (they can be large). */
export async function readK6Samples(
  path: string,
  context: ConstructorParameters<typeof K6SamplesParser>[0],
): Promise<LoadResult> {
  return (await readK6SamplesPart(path, context)).result;
}

/** The same as a LoadPart, with the per-second histograms an exact merge of parts needs. */
export async function readK6SamplesPart(
  path: string,
  context: ConstructorParameters<typeof K6SamplesParser>[0],
): Promise<LoadPart> {
  const parser = new K6SamplesParser(context);
  // A file cut short (k6 killed) must fail, not pass for a complete run: the pipeline's
  // promise carries gunzip's "unexpected end of file" that the line reader does not.
  const input = createGunzip();
  const done = pipeline(createReadStream(path), input);
  done.catch(() => {});
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (line !== '') parser.add(line);
  await done;
  return parser.finish();
}

function abortableSleep(millis: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, millis);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
