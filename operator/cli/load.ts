// `conclab load`: what a load pod runs. It drives the variant's pods with the built-in
// open-model driver (one driver per pod IP, the rate shared between them), or takes the
// summary the k6 init container wrote, and POSTs the LoadResult to the operator's results
// endpoint ($CONCLAB_RESULTS_URL, bearer $CONCLAB_RESULTS_TOKEN), retrying until a 2xx.
// On failure the reason goes to /dev/termination-log, where the operator reads it.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { FaultKind } from '../api/schema.ts';
import { injectFault } from '../engine/faults.ts';
import type { WorkloadEvent } from '../engine/records.ts';
import { runBuiltinLoad } from '../load/builtin.ts';
import { parseK6Summary } from '../load/k6-summary.ts';
import type { LoadPlan, LoadResult } from '../load/types.ts';
import { mergeLoadResults } from '../runtime/kube/merge-results.ts';
import { eventsFromStats, type Poll, type SupervisorStats } from '../runtime/kube/stats-events.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

export const help = `Usage: conclab load --targets URL[,URL...] --plan-json JSON [--post-results]
       conclab load --post-k6-summary FILE --plan-json JSON

What the operator's load pods run.
  --targets URLS          work URLs of the variant's pods, comma-separated; the rate is shared
  --plan-json JSON        the LoadPlan (rate or stages, durationMillis, warmUpMillis, ...)
  --post-results          POST the result to $CONCLAB_RESULTS_URL with $CONCLAB_RESULTS_TOKEN
                          (otherwise print it to stdout)
  --post-k6-summary FILE  convert the k6 summary JSON in FILE and POST it
  --faults-json JSON      [{kind, worker, atMillis}]: faults to inject, millis from the start
  --admin-urls URLS       the variant's supervisor admin endpoints, comma-separated: faults go
                          to the first; all are polled (GET /stats) for worker exits,
                          replacements and container restarts
  --attempts N            POST attempts before giving up (default 30)`;

const TERMINATION_LOG = '/dev/termination-log';

export async function loadCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        targets: { type: 'string' },
        'plan-json': { type: 'string' },
        'post-results': { type: 'boolean' },
        'post-k6-summary': { type: 'string' },
        attempts: { type: 'string' },
        'faults-json': { type: 'string' },
        'admin-urls': { type: 'string' },
        'stats-interval-millis': { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`conclab load: ${(err as Error).message}\n\n${help}`);
    return EXIT_USAGE;
  }
  let plan: Omit<LoadPlan, 'targets'>;
  try {
    plan = JSON.parse(String(values['plan-json'] ?? '')) as Omit<LoadPlan, 'targets'>;
  } catch {
    console.error('conclab load: --plan-json must be a LoadPlan as JSON');
    return EXIT_USAGE;
  }
  const attempts = Number(values['attempts'] ?? 30);
  try {
    let result: LoadResult;
    const summaryFile = values['post-k6-summary'];
    if (typeof summaryFile === 'string') {
      const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as unknown;
      const endedAtMillis = (await stat(summaryFile)).mtimeMs;
      result = parseK6Summary(summary, { startedAtMillis: endedAtMillis - plan.durationMillis, endedAtMillis });
    } else {
      const targets = String(values['targets'] ?? '')
        .split(',')
        .filter(Boolean);
      if (targets.length === 0) {
        console.error('conclab load: --targets needs at least one URL');
        return EXIT_USAGE;
      }
      const adminUrls = String(values['admin-urls'] ?? '')
        .split(',')
        .filter(Boolean);
      const faults = scheduleFaults(values['faults-json'], adminUrls[0]);
      const watcher = watchSupervisors(adminUrls, Number(values['stats-interval-millis'] ?? 500));
      try {
        result = mergeLoadResults(
          await Promise.all(targets.map((url) => runBuiltinLoad(sharePlan(plan, url, targets.length)))),
        );
      } finally {
        faults.cancel();
        await watcher.stop();
      }
      // Stored with the result (extra fields are kept), so the report can show what broke when.
      result = { ...result, ...{ injectedFaults: faults.injected, workloadEvents: watcher.events } };
    }
    if (values['post-results'] === true || typeof summaryFile === 'string') {
      await postResult(result, attempts);
      console.error(`conclab load: result posted (${result.completed} completed)`);
    } else {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
    return EXIT_OK;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`conclab load: ${message}`);
    // Only into a termination log the kubelet mounted ('r+' never creates one: outside a pod,
    // e.g. under a test node agent, nothing is written to the host's /dev).
    await writeFile(TERMINATION_LOG, message.slice(0, 4000), { flag: 'r+' }).catch(() => {});
    return EXIT_FAILED;
  }
}

/** Starts the fault timers; the injected list goes along with the result. */
function scheduleFaults(
  json: unknown,
  adminUrl: unknown,
): { injected: { kind: string; worker: number; atMillis: number }[]; cancel(): void } {
  const injected: { kind: string; worker: number; atMillis: number }[] = [];
  if (typeof json !== 'string' || typeof adminUrl !== 'string') return { injected, cancel() {} };
  const faults = JSON.parse(json) as { kind: FaultKind; worker: number; atMillis: number }[];
  const timers = faults.map((f) =>
    setTimeout(() => {
      injectFault(adminUrl, f.kind, f.worker)
        .then(() => injected.push({ kind: f.kind, worker: f.worker, atMillis: Date.now() }))
        .catch((err: unknown) => console.error(`conclab load: ${(err as Error).message}`));
    }, f.atMillis),
  );
  return { injected, cancel: () => timers.forEach(clearTimeout) };
}

/** Polls every supervisor's /stats until stopped; collects the events between polls. */
function watchSupervisors(
  adminUrls: string[],
  intervalMillis: number,
): { events: WorkloadEvent[]; stop(): Promise<void> } {
  const events: WorkloadEvent[] = [];
  const last: (Poll | undefined)[] = adminUrls.map(() => undefined);
  let stopped = false;
  const pollAll = async () => {
    await Promise.all(
      adminUrls.map(async (url, replica) => {
        let poll: Poll;
        try {
          const res = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(Math.max(200, intervalMillis)) });
          poll = res.ok ? ((await res.json()) as SupervisorStats) : 'down';
        } catch {
          poll = 'down';
        }
        events.push(...eventsFromStats(last[replica], poll, Date.now(), replica));
        last[replica] = poll;
      }),
    );
  };
  const loop = (async () => {
    while (!stopped && adminUrls.length > 0) {
      await pollAll();
      await sleep(intervalMillis);
    }
  })();
  return {
    events,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** One driver's share of the plan when `n` drivers split the rate between n pods. */
export function sharePlan(plan: Omit<LoadPlan, 'targets'>, url: string, n: number): LoadPlan {
  const share = (r: number) => r / n;
  return {
    ...plan,
    targets: [url],
    ...(plan.rate !== undefined ? { rate: share(plan.rate) } : {}),
    ...(plan.stages ? { stages: plan.stages.map((s) => ({ ...s, targetRate: share(s.targetRate) })) } : {}),
    ...(plan.startRate !== undefined ? { startRate: share(plan.startRate) } : {}),
    maxInFlight: Math.max(1, Math.floor(plan.maxInFlight / n)),
  };
}

async function postResult(result: LoadResult, attempts: number): Promise<void> {
  const url = process.env['CONCLAB_RESULTS_URL'];
  const token = process.env['CONCLAB_RESULTS_TOKEN'];
  if (!url || !token) throw new Error('CONCLAB_RESULTS_URL and CONCLAB_RESULTS_TOKEN must be set to post results');
  const body = JSON.stringify(result);
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
      // 4xx other than 429 will not get better by retrying.
      if (res.status >= 400 && res.status < 500 && res.status !== 429) break;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(Math.min(10_000, 500 * 2 ** i));
  }
  throw new Error(`could not post the result to ${url}: ${last}`);
}

export const run = loadCommand;
