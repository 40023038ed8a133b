// Runs a LoadPlan with k6 as an external program. k6 is AGPL: conclab generates a script,
// starts the `k6` found on PATH, and reads back what it wrote; no k6 code is imported,
// vendored or built. When k6 is absent the run stops before anything is created.
//
// k6 writes every request as a sample (--out json, gzipped), from which the result is built
// exactly (k6-samples.ts); the summary is the fallback when the samples are missing or cut
// (k6 killed), and that result says its histogram is approximate.
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
import { validateLoadPlan } from './plan-validation.ts';
import { planSegments, rateAtMillis } from './schedule.ts';
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
  validateLoadPlan(plan);
  const k6 = await findOnPath('k6', options.pathEnv ?? process.env.PATH ?? '');
  if (!k6) throw new K6NotFoundError(options.pathEnv ?? process.env.PATH ?? '');
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
    const child = spawn(k6, ['run', '--quiet', '--no-color', '--out', `json=${samplesPath}`, scriptPath], {
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
    const exact = await readK6Samples(samplesPath, {
      targets: plan.targets,
      timeoutMillis: plan.timeoutMillis,
      durationMillis: plan.durationMillis,
      partial: aborted,
      endedAtMillis: endedAt,
    }).catch(() => undefined);
    if (exact) return exact;
    const measuredStart = startedAt + plan.warmUpMillis;
    return parseK6Summary(JSON.parse(text), {
      startedAtMillis: measuredStart,
      endedAtMillis: aborted ? Math.max(measuredStart, endedAt) : measuredStart + plan.durationMillis,
      partial: aborted,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The exact result from k6's gzipped JSON samples, read as a stream (they can be large). */
export async function readK6Samples(
  path: string,
  context: ConstructorParameters<typeof K6SamplesParser>[0],
): Promise<LoadResult> {
  const parser = new K6SamplesParser(context);
  // A file cut short (k6 killed) must fail, not pass for a complete run: the pipeline's
  // promise carries gunzip's "unexpected end of file" that the line reader does not.
  const input = createGunzip();
  const done = pipeline(createReadStream(path), input);
  done.catch(() => {});
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (line !== '') parser.add(line);
  await done;
  return parser.finish().result;
}
