// `conclab run FILE`: a whole experiment on this machine. Variants run as local processes under
// equal cgroup limits, the built-in driver (or k6) sends open-model load, spans come back to an
// OTLP receiver inside this process, and the report lands in a results folder.
//
// What a run guarantees, in order:
//   1. Nothing starts until the manifest, the load driver and the results folder are checked:
//      the folder is claimed (created, a file written and renamed in it) up front.
//   2. One run per machine: the machine's run lock (runtime/local/run-lock.ts) is taken before
//      anything starts; a second run waits for the first (--wait) or is refused, naming it.
//   3. Interrupts (SIGINT, SIGTERM, SIGHUP) are handled in every phase until the last report is
//      written: the running trial stops, workloads and cgroups are removed, and every report that
//      can be written is written completely (temp file + rename), with `partial` telling whether
//      every trial ran. A further signal says what is still being waited for.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ExperimentRun } from '../analysis/run.ts';
import { tracingOf } from '../api/defaults.ts';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import { parseDurationMillis } from '../api/units.ts';
import { loadExperiments, ManifestError } from '../api/validate.ts';
import { describeEnvironment } from '../engine/environment.ts';
import { loadDriverFor } from '../engine/load-driver.ts';
import { type EngineEvent, ExperimentFailedError, runExperiment } from '../engine/run-experiment.ts';
import { assertLoadDriverAvailable } from '../load/index.ts';
import { buildReport } from '../report/model.ts';
import { renderTerminal, shouldUseColor } from '../report/terminal.ts';
import { renderReport, writeReports } from '../report/write.ts';
import { createLocalRuntime, type LocalRuntime } from '../runtime/local/index.ts';
import { ensurePythonTracingEnv } from '../runtime/local/python-env.ts';
import {
  acquireRunLock,
  DEFAULT_RUN_LOCK,
  describeHolder,
  formatAge,
  type RunLock,
  RunLockBusyError,
} from '../runtime/local/run-lock.ts';
import type { DeployedWorkload, Runtime, WorkloadLaunch } from '../runtime/types.ts';
import { startTraceReceiver } from '../telemetry/receiver.ts';
import type { TraceReceiver } from '../telemetry/types.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import { type ClaimedDir, claimResultsDir, OutputDirError } from './output.ts';
import { createProgress } from './progress.ts';
import { runNotes, workloadCores } from './run-notes.ts';

const DEFAULT_WAIT = '30m';

export const help = `Usage: conclab run [options] FILE

Runs the ConcurrencyExperiment in FILE on this machine: every variant as local processes in a
cgroup with the experiment's CPU and memory limits (the same for all variants), trials
interleaved (A B B A ...), open-model load from the built-in driver (or k6 when load.driver is
k6 and k6 is on PATH), spans received over OTLP/HTTP. Prints a comparison table and a verdict,
and writes report.json, report.md and report.html.

Needs root (or a writable cgroup) to enforce limits; without it conclab falls back to CPU
affinity, says so loudly and records it in the report.

One run at a time per machine: two runs at once would share CPUs and corrupt each other's
figures, so a second run waits for the first (saying which run it waits for), up to --wait.

Options:
  -o, --out DIR        results folder, created if missing; reports of an earlier run there are
                       replaced (default: conclab-results/NAME-YYYYMMDD-HHMMSS, with -2, -3, ...
                       when that exists). Checked before anything starts.
      --wait DURATION  how long to wait for another conclab run on this machine to finish
                       (default ${DEFAULT_WAIT}; 0 refuses at once, naming the other run)
  -q, --quiet          no progress lines; only the final table (or JSON)
      --json           print the JSON report on stdout instead of the table
  -h, --help           show this help

Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the run in any phase: the running trial stops, its
workloads and cgroups are removed, and the reports of what was measured are written in full,
with "partial": true unless every trial had run. A second Ctrl-C says what is still being
waited for (a few seconds at most); SIGKILL stops at once and leaves empty cgroups, which the
next conclab run on this machine removes when it starts.

Exit codes:
  0    the experiment ran to the end (the verdict may still be "no significant difference")
  1    the experiment failed (partial results are saved and marked partial)
  2    usage error, unreadable or invalid manifest, a missing prerequisite such as k6, an
       unusable results folder, or another run still holding the machine after --wait
  130  interrupted by SIGINT (143 SIGTERM, 129 SIGHUP: 128 + the signal number); the reports
       written say in "partial" whether every trial ran

Example:
  npx conclab run examples/quickstart.yaml`;

/** What the run is doing, for the interrupt messages. */
export type Phase =
  | { kind: 'waiting' }
  | { kind: 'preparing' }
  | { kind: 'starting'; trial: string }
  | { kind: 'measuring'; trial: string }
  | { kind: 'stopping'; trial: string }
  | { kind: 'between' }
  | { kind: 'cleanup' }
  | { kind: 'reports'; dir: string };

/** Upper bounds of what a stop waits for, for the messages (runtime defaults). */
const STOP_GRACE_SECONDS = 5;
const READY_TIMEOUT_SECONDS = 30;

/** What the first interrupt does, by phase. Pure. */
export function firstInterruptMessage(signal: string, phase: Phase): string {
  switch (phase.kind) {
    case 'waiting':
      return `${signal}: giving up the wait; nothing was started.`;
    case 'preparing':
      return `${signal}: stopping before the first trial; removing what was set up.`;
    case 'starting':
      return `${signal}: stopping ${phase.trial} while its workload starts; it is stopped once it is up, and nothing of it is reported.`;
    case 'measuring':
    case 'stopping':
      return (
        `${signal}: stopping ${phase.trial}: its workloads get up to ${STOP_GRACE_SECONDS} s to drain, then their cgroups are ` +
        'removed; what was measured is saved (marked partial if a trial was cut short or did not run).'
      );
    case 'between':
      return `${signal}: stopping between trials: no further trial starts; what was measured is saved, marked partial.`;
    case 'cleanup':
      return `${signal}: every trial has run; finishing the cleanup and writing the complete reports first (a few seconds).`;
    case 'reports':
      return `${signal}: writing the reports to ${phase.dir}; they are complete when written.`;
  }
}

/** What a further interrupt is told: what is still being waited for, and why not to force it. Pure. */
export function againInterruptMessage(signal: string, phase: Phase, secondsSoFar: number, pid: number): string {
  const doing: Record<Phase['kind'], string> = {
    waiting: 'giving up the wait',
    preparing: 'setting up (trace receiver, CPU placement) before it can be undone',
    starting: `waiting for the workload of ${'trial' in phase ? phase.trial : ''} to finish starting (at most ${READY_TIMEOUT_SECONDS} s) so it can be stopped cleanly`,
    measuring: `stopping ${'trial' in phase ? phase.trial : ''}: waiting for the load and the span flush to end`,
    stopping: `stopping ${'trial' in phase ? phase.trial : ''}: waiting for its workloads to exit (SIGTERM, SIGKILL after ${STOP_GRACE_SECONDS} s) and removing their cgroups`,
    between: 'ending the run after the trial that just finished',
    cleanup: 'removing the last workloads and cgroups',
    reports: `writing the reports${'dir' in phase ? ` to ${phase.dir}` : ''}`,
  };
  return (
    `${signal} again: still ${doing[phase.kind]} (${Math.round(secondsSoFar)} s so far). conclab exits as soon as that is ` +
    `done and leaves nothing behind; kill -KILL ${pid} would stop it now but leave empty cgroups for the next run to remove.`
  );
}

/** The exit code of a run that a signal interrupted: 128 + the signal number, as shells report it. */
export function interruptedExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 2);
}

/** Thrown by the interruptible runtime when a start completes after an interrupt. */
class InterruptedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptedError';
  }
}

/**
 * The local runtime as the engine sees it, telling the run what phase it is in, and stopping a
 * workload whose start completes after an interrupt instead of measuring it.
 */
function interruptible(runtime: LocalRuntime, signal: AbortSignal, setPhase: (p: Phase) => void): Runtime {
  const label = (variant: string, trial: number) => `variant ${variant} trial ${trial}`;
  return {
    name: runtime.name,
    warnings: runtime.warnings,
    async start(launch: WorkloadLaunch) {
      const trial = label(launch.variant.name, launch.trial);
      setPhase({ kind: 'starting', trial });
      const deployed = await runtime.start(launch);
      if (signal.aborted) {
        setPhase({ kind: 'stopping', trial });
        await runtime.stop(deployed);
        throw new InterruptedError();
      }
      setPhase({ kind: 'measuring', trial });
      return deployed;
    },
    events: (deployed) => runtime.events(deployed),
    async stop(deployed: DeployedWorkload) {
      setPhase({ kind: 'stopping', trial: label(deployed.variant, deployed.trial) });
      await runtime.stop(deployed);
      setPhase({ kind: 'between' });
    },
    cleanup: () => runtime.cleanup(),
  };
}

function parseWait(text: string | undefined): number {
  if (text === undefined) return parseDurationMillis(DEFAULT_WAIT);
  if (text.trim() === '0') return 0;
  try {
    return parseDurationMillis(text);
  } catch (err) {
    throw new Error(`--wait: ${(err as Error).message}`);
  }
}

export async function run(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(args);
  } catch (err) {
    console.error(`conclab run: ${(err as Error).message}`);
    console.error(
      'Usage: conclab run [--out DIR] [--wait DURATION] [--quiet] [--json] FILE   (conclab run --help for more)',
    );
    return EXIT_USAGE;
  }
  const { file, out, quiet, json, waitMillis } = parsed;

  let experiment: ConcurrencyExperiment;
  try {
    const experiments = await loadExperiments(file);
    if (experiments.length !== 1) {
      console.error(
        `${file}: holds ${experiments.length} experiments; conclab run takes one per file (split the documents)`,
      );
      return EXIT_USAGE;
    }
    experiment = experiments[0]!;
  } catch (err) {
    if (err instanceof ManifestError) {
      console.error(err.message);
      console.error(`Fix the manifest (conclab validate ${file} lists every problem) and run again.`);
    } else console.error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return EXIT_USAGE;
  }
  const spec = experiment.spec;
  try {
    // Before anything starts: a run that needs k6 and has none stops here with nothing to clean.
    await assertLoadDriverAvailable(spec.load.driver);
  } catch (err) {
    console.error((err as Error).message);
    return EXIT_USAGE;
  }
  let claimed: ClaimedDir;
  try {
    claimed = claimResultsDir(experiment.metadata.name, out);
  } catch (err) {
    if (!(err instanceof OutputDirError)) throw err;
    console.error(`conclab run: ${err.message}; nothing was started.`);
    console.error(
      'Fix: give --out a folder this user can create and write (e.g. --out ./results), or run from a writable folder.',
    );
    return EXIT_USAGE;
  }
  const dir = claimed.dir;

  const log = (text: string) => {
    if (!quiet) process.stderr.write(text);
  };
  // From here to the last report, every phase handles interrupts.
  const abort = new AbortController();
  let phase: Phase = { kind: 'waiting' };
  let phaseSince = Date.now();
  const setPhase = (p: Phase) => {
    phase = p;
    phaseSince = Date.now();
  };
  let interrupted: NodeJS.Signals | undefined;
  let over = false;
  // One listener for the whole command, never swapped: a signal delivered while listeners are
  // exchanged would be lost, and a finished run must not be turned into one killed by a signal.
  const onSignal = (signal: NodeJS.Signals) => {
    if (over) {
      process.stderr.write(`${signal}: the run is over; exiting.\n`);
    } else if (interrupted === undefined) {
      interrupted = signal;
      process.stderr.write(`\n${firstInterruptMessage(signal, phase)}\n`);
      // Once the trials are over there is nothing to stop: the reports are completed as they are.
      if (phase.kind !== 'cleanup' && phase.kind !== 'reports') abort.abort(new Error(`interrupted by ${signal}`));
    } else {
      process.stderr.write(`${againInterruptMessage(signal, phase, (Date.now() - phaseSince) / 1000, process.pid)}\n`);
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  // This command is the last thing the process does: the listener stays until it exits.
  process.once('exit', () => {
    for (const s of signals) process.off(s, onSignal);
  });
  const code = await runHeld();
  // The reports are written synchronously: a signal that came meanwhile reaches its listener
  // only when the event loop next polls, so give it one short poll; it still counts.
  await new Promise((resolve) => setTimeout(resolve, 20));
  over = true;
  return interrupted ? interruptedExitCode(interrupted) : code;

  async function runHeld(): Promise<number> {
    let lock: RunLock;
    let waitedSince: number | undefined;
    try {
      lock = await acquireRunLock({
        name: process.env['CONCLAB_RUN_LOCK'] || DEFAULT_RUN_LOCK,
        holder: {
          pid: process.pid,
          experiment: experiment.metadata.name,
          file,
          sinceMillis: Date.now(),
          resultsDir: dir,
        },
        waitMillis,
        signal: abort.signal,
        onBusy: (holder, owners) => {
          waitedSince ??= Date.now();
          process.stderr.write(
            `conclab run: ${describeHolder(holder, owners, Date.now())}. Two runs at once share CPUs and corrupt each ` +
              `other's figures: waiting up to ${formatAge(waitMillis)} for it to finish (--wait 0 refuses at once; Ctrl-C gives up).\n`,
          );
        },
      });
      if (waitedSince !== undefined) {
        process.stderr.write(
          `conclab run: the other run is done after ${formatAge(Date.now() - waitedSince)} of waiting; starting.\n`,
        );
      }
    } catch (err) {
      claimed.removeIfUnused();
      if (err instanceof RunLockBusyError) {
        console.error(`conclab run: ${err.message}`);
        return EXIT_USAGE;
      }
      if (interrupted) return interruptedExitCode(interrupted);
      console.error(`conclab run: ${(err as Error).message}`);
      return EXIT_FAILED;
    }
    try {
      return await measure();
    } finally {
      await lock.release();
    }
  }

  async function measure(): Promise<number> {
    setPhase({ kind: 'preparing' });
    let runtime: LocalRuntime | undefined;
    let receiver: TraceReceiver | undefined;
    let result: ExperimentRun | undefined;
    let failure: string | undefined;
    const runId = randomBytes(4).toString('hex');
    const progress = createProgress({ write: log, isTTY: process.stderr.isTTY === true });
    try {
      const python = await pythonInterpreter(experiment, log);
      runtime = createLocalRuntime(python.path ? { python: python.path } : {});
      if (python.warning) runtime.warnings.push(python.warning);
      for (const w of runtime.warnings) log(`WARNING: ${w}\n`);
      const swept = await runtime.sweepLeftovers();
      if (swept.length > 0) log(`removed ${swept.length} cgroup(s) left by a conclab run that was killed\n`);
      // The load generator must not share the workloads' CPU budget: this process, and with
      // spec.load.generators > 1 the generator processes, on the CPUs kept for it.
      const generatorCpus = await runtime
        .pinLoadGenerator(workloadCores(spec), process.pid, spec.load.generators ?? 1)
        .then((placement) => placement.driverCpus)
        .catch((err: unknown) => {
          log(`warning: could not pin the load generator: ${String(err)}\n`);
          return undefined;
        });
      // Exporters must present this run's token: nothing else that reaches the port can fill
      // the receiver or pass for this run's spans.
      const receiverToken = randomBytes(24).toString('base64url');
      if (spec.tracing?.enabled ?? true) {
        receiver = await startTraceReceiver({
          token: receiverToken,
          expect: { experiment: experiment.metadata.name, run: runId },
        });
      }
      const environment = describeEnvironment({
        runtime: runtime.name,
        cgroupVersion: runtime.cgroupVersion,
        // The runtime's warnings are added when the run is assembled (also those raised later).
        warnings: [],
      });
      log(
        `conclab run ${experiment.metadata.name}: ${spec.variants.map((v) => `${v.name} (${v.model} x${v.workers})`).join(' vs ')}, ` +
          `${spec.trials} trial(s) each, ${spec.resources.cpu} CPU / ${spec.resources.memory} per variant, runtime ${runtime.name}, ` +
          `results in ${dir}\n`,
      );
      for (const note of runNotes(spec)) log(note);
      try {
        result = await runExperiment({
          experiment,
          runtime: interruptible(runtime, abort.signal, setPhase),
          drive: loadDriverFor(experiment, parseDurationMillis, generatorCpus ? { cpus: generatorCpus } : {}),
          ...(receiver ? { receiver, receiverToken } : {}),
          run: runId,
          parseMillis: parseDurationMillis,
          environment,
          signal: abort.signal,
          onEvent: (e: EngineEvent) => {
            // After the last trial nothing is left to stop: an interrupt then keeps the results whole.
            if (e.type === 'trial-end' && e.planned.index + 1 === e.total) setPhase({ kind: 'cleanup' });
            progress.onEvent(e);
          },
        });
      } catch (err) {
        if (!(err instanceof ExperimentFailedError)) throw err;
        result = err.run;
        // A start that completed after the interrupt is not a failure of the experiment.
        if (!(interrupted && /: interrupted$/.test(err.message))) failure = err.message;
      }
    } catch (err) {
      failure = err instanceof Error ? (err.stack ?? err.message) : String(err);
    } finally {
      progress.done();
      setPhase({ kind: 'cleanup' });
      await runtime?.cleanup().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
      await receiver?.close().catch(() => {});
    }

    let written = false;
    if (result && result.trials.length > 0) {
      setPhase({ kind: 'reports', dir });
      // An interrupt after the last trial leaves the results complete: partial stays false.
      if (failure) result.partial = true;
      const model = buildReport(result);
      const paths = writeReportsSafely(model, dir, experiment.metadata.name);
      written = paths.length > 0;
      if (json) process.stdout.write(`${renderReport(model, 'json')}\n`);
      else {
        process.stdout.write(
          `\n${renderTerminal(model, { color: shouldUseColor(process.stdout, process.env), widthColumns: process.stdout.columns ?? 160 })}\n`,
        );
        if (written) process.stdout.write(`\nReports: ${paths.join(', ')}\n`);
      }
      if (!written) failure ??= 'the reports could not be written (see above)';
    } else if (!failure && interrupted) {
      console.error(`conclab run: interrupted by ${interrupted} before any trial finished; nothing to report.`);
    }
    if (!written) claimed.removeIfUnused();
    if (failure) console.error(`conclab run failed: ${failure}`);
    if (interrupted) return interruptedExitCode(interrupted);
    if (failure) return EXIT_FAILED;
    return result?.partial ? EXIT_FAILED : EXIT_OK;
  }
}

/**
 * Writes the three reports (each atomically: temp file + rename); if the results folder fails
 * now (removed, disk full), into a fresh folder under the temp directory, so a finished
 * measurement is never lost. Returns the paths written.
 */
function writeReportsSafely(model: ReturnType<typeof buildReport>, dir: string, name: string): string[] {
  const paths = (w: ReturnType<typeof writeReports>) => [w.md, w.json, w.html].filter((p): p is string => !!p);
  try {
    return paths(writeReports(model, dir));
  } catch (err) {
    console.error(`conclab run: cannot write the reports to ${dir}: ${(err as Error).message}`);
    try {
      const fallback = mkdtempSync(path.join(os.tmpdir(), `conclab-results-${name}-`));
      const written = paths(writeReports(model, fallback));
      console.error(`conclab run: wrote them to ${fallback} instead.`);
      return written;
    } catch (again) {
      console.error(`conclab run: nor to the temp folder: ${(again as Error).message}`);
      return [];
    }
  }
}

function parseCli(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      wait: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new Error(positionals.length === 0 ? 'no FILE given' : 'give exactly one FILE');
  return {
    file: positionals[0]!,
    out: values.out,
    quiet: values.quiet === true,
    json: values.json === true,
    waitMillis: parseWait(values.wait),
  };
}

/**
 * runtime: python with tracing on: the interpreter of a prepared environment with the pinned
 * OpenTelemetry SDK (built once, cached; see runtime/local/python-env.ts). When it cannot be
 * prepared, the run goes on untraced with python3, and says so in the terminal and the report.
 */
async function pythonInterpreter(
  experiment: ConcurrencyExperiment,
  log: (text: string) => void,
): Promise<{ path?: string; warning?: string }> {
  if (experiment.spec.workload.runtime !== 'python' || !tracingOf(experiment.spec).enabled) return {};
  try {
    const env = await ensurePythonTracingEnv({ onProgress: (line) => log(`python: ${line}\n`) });
    return { path: env.python };
  } catch (err) {
    return {
      warning: `UNTRACED: the Python workloads run without the OpenTelemetry SDK, so the report has no server-side spans: ${(err as Error).message}`,
    };
  }
}
