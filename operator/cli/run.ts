// `conclab run FILE`: a whole experiment on this machine. Variants run as local processes under
// equal cgroup limits, the built-in driver (or k6) sends open-model load, spans come back to an
// OTLP receiver inside this process, and the report lands in a results folder.
//
// Whatever happens (Ctrl-C, a crashed workload, an error in conclab) the finally block removes
// workloads, cgroups and temp files, and what was measured so far is saved, marked partial.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { ExperimentRun } from '../analysis/run.ts';
import type { ConcurrencyExperiment } from '../api/schema.ts';
import { parseCpuCores, parseDurationMillis } from '../api/units.ts';
import { loadExperiments, ManifestError } from '../api/validate.ts';
import { describeEnvironment } from '../engine/environment.ts';
import { loadDriverFor } from '../engine/load-driver.ts';
import { ExperimentFailedError, runExperiment } from '../engine/run-experiment.ts';
import { assertLoadDriverAvailable } from '../load/index.ts';
import { buildReport } from '../report/model.ts';
import { renderTerminal, shouldUseColor } from '../report/terminal.ts';
import { renderReport, writeReports } from '../report/write.ts';
import { createLocalRuntime, type LocalRuntime } from '../runtime/local/index.ts';
import { startTraceReceiver } from '../telemetry/receiver.ts';
import type { TraceReceiver } from '../telemetry/types.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import { resultsDir } from './output.ts';
import { createProgress } from './progress.ts';

export const help = `Usage: conclab run [options] FILE

Runs the ConcurrencyExperiment in FILE on this machine: every variant as local processes in a
cgroup with the experiment's CPU and memory limits (the same for all variants), trials
interleaved (A B B A ...), open-model load from the built-in driver (or k6 when load.driver is
k6 and k6 is on PATH), spans received over OTLP/HTTP. Prints a comparison table and a verdict,
and writes report.json, report.md and report.html.

Needs root (or a writable cgroup) to enforce limits; without it conclab falls back to CPU
affinity, says so loudly and records it in the report.

Options:
  -o, --out DIR   results folder (default: conclab-results/NAME-YYYYMMDD-HHMMSS)
  -q, --quiet     no progress lines; only the final table (or JSON)
      --json      print the JSON report on stdout instead of the table
  -h, --help      show this help

Exit codes:
  0  the experiment ran to the end (the verdict may still be "no significant difference")
  1  the experiment failed or was interrupted (partial results are saved and marked partial)
  2  usage error, unreadable or invalid manifest, or a missing prerequisite such as k6

Example:
  npx conclab run examples/quickstart.yaml`;

export async function run(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(args);
  } catch (err) {
    console.error(`conclab run: ${(err as Error).message}`);
    console.error('Usage: conclab run [--out DIR] [--quiet] [--json] FILE   (conclab run --help for more)');
    return EXIT_USAGE;
  }
  const { file, out, quiet, json } = parsed;

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

  const log = (text: string) => {
    if (!quiet) process.stderr.write(text);
  };
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) return;
    process.stderr.write(`\n${signal}: stopping; cleaning up and saving partial results...\n`);
    abort.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  let runtime: LocalRuntime | undefined;
  let receiver: TraceReceiver | undefined;
  let result: ExperimentRun | undefined;
  let failure: string | undefined;
  const dir = resultsDir(experiment.metadata.name, out);
  const runId = randomBytes(4).toString('hex');
  const progress = createProgress({ write: log, isTTY: process.stderr.isTTY === true });
  try {
    runtime = createLocalRuntime();
    for (const w of runtime.warnings) log(`WARNING: ${w}\n`);
    // The load generator must not share the workloads' CPU budget.
    await runtime.pinLoadGenerator(parseCpuCores(spec.resources.cpu)).catch((err: unknown) => {
      log(`warning: could not pin the load generator: ${String(err)}\n`);
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
      warnings: runtime.warnings,
    });
    log(
      `conclab run ${experiment.metadata.name}: ${spec.variants.map((v) => `${v.name} (${v.model} x${v.workers})`).join(' vs ')}, ` +
        `${spec.trials} trial(s) each, ${spec.resources.cpu} CPU / ${spec.resources.memory} per variant, runtime ${runtime.name}\n`,
    );
    try {
      result = await runExperiment({
        experiment,
        runtime,
        drive: loadDriverFor(experiment, parseDurationMillis),
        ...(receiver ? { receiver, receiverToken } : {}),
        run: runId,
        parseMillis: parseDurationMillis,
        environment,
        signal: abort.signal,
        onEvent: progress.onEvent,
      });
    } catch (err) {
      if (!(err instanceof ExperimentFailedError)) throw err;
      failure = err.message;
      result = err.run;
    }
  } catch (err) {
    failure = err instanceof Error ? (err.stack ?? err.message) : String(err);
  } finally {
    progress.done();
    await runtime?.cleanup().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
    await receiver?.close().catch(() => {});
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }

  if (result && result.trials.length > 0) {
    if (failure) result.partial = true;
    const model = buildReport(result);
    const written = writeReports(model, dir);
    if (json) process.stdout.write(`${renderReport(model, 'json')}\n`);
    else {
      process.stdout.write(
        `\n${renderTerminal(model, { color: shouldUseColor(process.stdout, process.env), widthColumns: process.stdout.columns ?? 160 })}\n`,
      );
      process.stdout.write(`\nReports: ${[written.md, written.json, written.html].filter(Boolean).join(', ')}\n`);
    }
  } else if (!failure && abort.signal.aborted) {
    failure = 'interrupted before any trial finished; nothing to report';
  }
  if (failure) {
    console.error(`conclab run failed: ${failure}`);
    return EXIT_FAILED;
  }
  return abort.signal.aborted || result?.partial ? EXIT_FAILED : EXIT_OK;
}

function parseCli(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      quiet: { type: 'boolean', short: 'q' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new Error(positionals.length === 0 ? 'no FILE given' : 'give exactly one FILE');
  return { file: positionals[0]!, out: values.out, quiet: values.quiet === true, json: values.json === true };
}
