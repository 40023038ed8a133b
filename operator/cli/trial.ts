// `conclab trial`: what a cluster's load pod runs. It is the trial runner that `conclab run`
// calls in process (operator/engine/trial-runner.ts), given the assignment the operator wrote
// into CONCLAB_TRIAL_JSON: the experiment, the variant and trial, and the replicas' URLs. It
// receives the workloads' spans itself (OTLP/HTTP on CONCLAB_OTLP_PORT, the experiment's token
// required), and POSTs the TrialRecord to $CONCLAB_RESULTS_URL with that token, retrying until
// a 2xx. On failure the reason goes to /dev/termination-log, where the operator reads it.
// With spec.load.generators > 1 the assignment names the trial's generator pods: this load pod
// is generator 0 and hands them the other shares of every plan (engine/load-driver.ts).
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { tracingOf } from '../api/defaults.ts';
import { runVariant } from '../api/sweep.ts';
import { parseDurationMillis } from '../api/units.ts';
import { checkObject } from '../api/validate.ts';
import type { TrialRecord } from '../contracts/records.ts';
import { loadDriverFor } from '../engine/load-driver.ts';
import { runTrial } from '../engine/trial-runner.ts';
import type { TrialAssignment } from '../runtime/kube/pod-spec.ts';
import { startTraceReceiver } from '../telemetry/receiver.ts';
import type { TraceReceiver } from '../telemetry/types.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

export const help = `Usage: conclab trial [--input FILE] [--post-results]

What the operator's load pods run: one trial of one variant, measured by the same trial
runner as \`conclab run\`, against the replicas named in the assignment.
  --input FILE      the assignment as JSON (default: $CONCLAB_TRIAL_JSON)
  --post-results    POST the TrialRecord to $CONCLAB_RESULTS_URL with $CONCLAB_TOKEN
                    (otherwise print it to stdout)
  --attempts N      POST attempts before giving up (default 30)
Environment: CONCLAB_HOST (address for the OTLP receiver, the pod IP), CONCLAB_OTLP_PORT
(default 4318), CONCLAB_TOKEN (exporters and the results endpoint require it),
CONCLAB_K6_PATH (directory holding k6, for load.driver k6). With spec.load.generators > 1 the
assignment's generators name the trial's generator pods (conclab generate): this pod runs share 0
of every plan and hands them the others, with the same token.`;

const TERMINATION_LOG = '/dev/termination-log';

export async function run(argv: string[]): Promise<number> {
  let values: { input?: string | undefined; 'post-results'?: boolean | undefined; attempts?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { input: { type: 'string' }, 'post-results': { type: 'boolean' }, attempts: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    console.error(`conclab trial: ${(err as Error).message}\n\n${help}`);
    return EXIT_USAGE;
  }
  let assignment: TrialAssignment;
  try {
    const text = values.input ? await readFile(values.input, 'utf8') : (process.env['CONCLAB_TRIAL_JSON'] ?? '');
    assignment = parseAssignment(text);
  } catch (err) {
    console.error(`conclab trial: ${(err as Error).message}`);
    return EXIT_USAGE;
  }
  const token = process.env['CONCLAB_TOKEN'] ?? '';
  let receiver: TraceReceiver | undefined;
  try {
    const { experiment } = assignment;
    const variant = runVariant(experiment.spec, assignment.variant);
    if (!variant) throw new Error(`the experiment has no variant ${assignment.variant}`);
    if (tracingOf(experiment.spec).enabled) {
      if (!token) throw new Error('CONCLAB_TOKEN must be set: exporters are authenticated with it');
      receiver = await startTraceReceiver({
        host: process.env['CONCLAB_HOST'] || '0.0.0.0',
        port: Number(process.env['CONCLAB_OTLP_PORT'] ?? 4318),
        token,
        expect: { experiment: experiment.metadata.name, ...(assignment.run ? { run: assignment.run } : {}) },
      });
    }
    const k6Dir = process.env['CONCLAB_K6_PATH'];
    const generators = assignment.generators ?? [];
    const drive = loadDriverFor(experiment, parseDurationMillis, {
      ...(k6Dir ? { k6PathEnv: k6Dir } : {}),
      ...(generators.length > 0 || (experiment.spec.load.generators ?? 1) > 1
        ? { remote: { urls: generators, token } }
        : {}),
    });
    const record = await runTrial(
      {
        experiment,
        variant,
        trial: assignment.trial,
        targets: assignment.targets,
        ...(assignment.run ? { run: assignment.run } : {}),
      },
      {
        drive,
        ...(receiver ? { receiver } : {}),
        parseMillis: parseDurationMillis,
        // The kubelet restarts a container after a back-off: give it longer than a local restart.
        restartWaitMillis: 60_000,
        onEvent: (e) => {
          if (e.type === 'warning') console.error(`conclab trial: warning: ${e.message}`);
          if (e.type === 'fault')
            console.error(`conclab trial: fault ${e.fault.kind} injected into worker ${e.fault.worker}`);
          if (e.type === 'search-step') {
            console.error(
              `conclab trial: search step ${e.step.rate} req/s ${e.step.passed ? 'passed' : `failed: ${e.step.reason}`}`,
            );
          }
        },
      },
    );
    if (values['post-results'] === true) {
      await postRecord(record, token, Number(values.attempts ?? 30));
      console.error(`conclab trial: record posted (${record.load.completed} requests completed)`);
    } else {
      process.stdout.write(`${JSON.stringify(record)}\n`);
    }
    return EXIT_OK;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`conclab trial: ${message}`);
    // Only into a termination log the kubelet mounted ('r+' never creates one outside a pod).
    await writeFile(TERMINATION_LOG, message.slice(0, 4000), { flag: 'r+' }).catch(() => {});
    return EXIT_FAILED;
  } finally {
    await receiver?.close().catch(() => {});
  }
}

/** The operator's assignment, with the experiment validated again and defaults applied. */
export function parseAssignment(text: string): TrialAssignment {
  let raw: Partial<TrialAssignment>;
  try {
    raw = JSON.parse(text) as Partial<TrialAssignment>;
  } catch {
    throw new Error(
      'the assignment (CONCLAB_TRIAL_JSON or --input) must be JSON: {experiment, variant, trial, targets}',
    );
  }
  const problems: string[] = [];
  const experiment = checkObject(raw.experiment, (segments, message) =>
    problems.push(`${segments.join('.')}: ${message}`),
  );
  if (!experiment) throw new Error(`the assignment's experiment is invalid: ${problems.join('; ')}`);
  if (typeof raw.variant !== 'string') throw new Error('the assignment needs variant (a name)');
  if (!Number.isInteger(raw.trial) || (raw.trial ?? 0) < 1) throw new Error('the assignment needs trial (1 or more)');
  const targets = raw.targets;
  if (
    !Array.isArray(targets) ||
    targets.length === 0 ||
    !targets.every((t) => typeof t?.workUrl === 'string' && typeof t?.adminUrl === 'string')
  ) {
    throw new Error('the assignment needs targets: [{workUrl, adminUrl}] with one entry per replica');
  }
  const generators = raw.generators;
  if (generators !== undefined && !(Array.isArray(generators) && generators.every((g) => typeof g === 'string'))) {
    throw new Error('the assignment\'s generators must be the generator pods\' base URLs: ["http://IP:PORT", ...]');
  }
  return {
    experiment,
    variant: raw.variant,
    trial: raw.trial as number,
    ...(typeof raw.run === 'string' ? { run: raw.run } : {}),
    targets,
    ...(generators?.length ? { generators } : {}),
  };
}

async function postRecord(record: TrialRecord, token: string, attempts: number): Promise<void> {
  const url = process.env['CONCLAB_RESULTS_URL'];
  if (!url || !token) throw new Error('CONCLAB_RESULTS_URL and CONCLAB_TOKEN must be set to post the record');
  const body = JSON.stringify(record);
  let last = '';
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.ok) return;
      last = `${res.status} ${text.trim()}`;
      // 4xx other than 408 and 429 will not get better by retrying.
      if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 408) break;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(Math.min(10_000, 500 * 2 ** i));
  }
  throw new Error(`could not post the record to ${url}: ${last}`);
}
