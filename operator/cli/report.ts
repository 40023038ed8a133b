// `conclab report NAME`: fetches a finished experiment's report from the cluster
// (status.reportRef -> ConfigMap key, or with --run a past run of status.history) and renders
// it; `conclab report DIR` renders a results folder `conclab run` wrote (its report.json). A
// conclab JSON report (schemaVersion "1", what `conclab run` writes and the operator stores)
// renders through operator/report the same wherever it came from. The fetch is an I/O shell;
// the decisions are pure functions.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { type ConcurrencyExperiment, GROUP, PLURAL, VERSION } from '../api/schema.ts';
import { parseJsonReport } from '../report/json.ts';
import { REPORT_FILE_NAMES, REPORT_FORMATS, type ReportFormat, renderReport } from '../report/write.ts';
import { reportConfigMapName } from '../runtime/kube/names.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

export const help = `Usage: conclab report NAME [-n NAMESPACE] [--format md|json|html] [--run RUN] [--kubeconfig PATH]
       conclab report DIR [--format md|json|html]

Prints the report of a finished ConcurrencyExperiment from the cluster: the operator stores
it in a ConfigMap named by status.reportRef. Markdown by default; json is the stored
document; html is a self-contained page (redirect it to a file). Given a folder (DIR, a
results folder of \`conclab run\`), renders the report.json in it instead.

Options:
  -n, --namespace NS   namespace of the experiment (default: the kubeconfig context's, else "default")
  --run RUN            a scheduled experiment's past run from status.history: its run id as in
                       the children's names (20260301t030000), its start time (RFC 3339), or
                       "latest" (default: the last finished run, status.reportRef)
  -f, --format FMT     md (default), json or html
  --kubeconfig PATH    kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
  -h, --help           show this help

Exit codes:
  0  the report was printed
  1  no report to print: the experiment does not exist, has not finished, failed, or its report is missing
  2  usage error, or the cluster could not be reached

Example:
  kubectl apply -f examples/quickstart.yaml
  kubectl wait --for=jsonpath='{.status.phase}'=Succeeded cx/quickstart --timeout=10m
  npx conclab report quickstart > quickstart.md`;

/** Why the command cannot print a report; exitCode says whose problem it is. */
export class ReportError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_FAILED) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Where the report is, or why there is none yet. Pure. */
export function locateReport(cx: ConcurrencyExperiment): { configMap: string; key: string } {
  const where = `${cx.metadata.namespace ?? 'default'}/${cx.metadata.name}`;
  const phase = cx.status?.phase ?? 'Pending';
  if (phase === 'Failed') {
    const degraded = cx.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True');
    const why = degraded ? `${degraded.reason}: ${degraded.message}` : 'no reason recorded';
    throw new ReportError(
      `experiment ${where} failed (${why}); it has no report. Fix the cause and re-apply the manifest to run it again.`,
    );
  }
  if (phase !== 'Succeeded') {
    const progressing = cx.status?.conditions?.find((c) => c.type === 'Progressing');
    const detail = progressing?.message ? `: ${progressing.message}` : '';
    throw new ReportError(
      `experiment ${where} has not finished yet (phase ${phase}${detail}). Wait for it with: ` +
        `kubectl wait --for=jsonpath='{.status.phase}'=Succeeded cx/${cx.metadata.name} -n ${cx.metadata.namespace ?? 'default'}`,
    );
  }
  const ref = cx.status?.reportRef;
  if (!ref?.configMap || !ref.key) {
    throw new ReportError(
      `experiment ${where} succeeded but its status has no reportRef; the operator wrote no report`,
    );
  }
  return { configMap: ref.configMap, key: ref.key };
}

/**
 * The report ConfigMap of one past run of a scheduled experiment (status.history), chosen by
 * its run id (the children's names carry it), its start time, or "latest". Pure.
 */
export function locateRun(cx: ConcurrencyExperiment, run: string): { configMap: string; key: string } {
  const where = `${cx.metadata.namespace ?? 'default'}/${cx.metadata.name}`;
  const history = cx.status?.history ?? [];
  const kept = history.filter((r) => r.reportRef);
  if (kept.length === 0) {
    throw new ReportError(
      `experiment ${where} has no past run with a report in status.history${cx.spec.schedule ? '' : ' (it has no spec.schedule: omit --run for its report)'}`,
    );
  }
  const found =
    run === 'latest'
      ? kept[0]
      : kept.find((r) => r.reportRef === reportConfigMapName(cx.metadata.name, run) || r.startTime === run);
  if (!found?.reportRef) {
    const runs = kept.map(
      (r) =>
        `${r.reportRef?.slice(reportConfigMapName(cx.metadata.name).length + 1)} (started ${r.startTime}, ${r.phase})`,
    );
    throw new ReportError(
      `experiment ${where} has no run ${JSON.stringify(run)} with a report; runs kept in status.history, newest first: ${runs.join(', ')}`,
    );
  }
  return { configMap: found.reportRef, key: 'report.json' };
}

/** A results folder of `conclab run` rendered in `format`; throws ReportError naming what is missing. */
export function renderFolderReport(dir: string, format: ReportFormat): string {
  const file = join(dir, REPORT_FILE_NAMES.json);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ReportError(
      code === 'ENOENT'
        ? `${dir} has no ${REPORT_FILE_NAMES.json}: it is not a results folder of conclab run (those hold report.json, report.md and report.html)`
        : `cannot read ${file}: ${(err as Error).message}`,
    );
  }
  return renderStoredReport(text, format, file);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The stored text rendered in `format`. Pure; throws ReportError for a document it cannot read. */
export function renderStoredReport(text: string, format: ReportFormat, source: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    throw new ReportError(`${source} does not hold JSON (${(err as Error).message}); it is not a conclab report`);
  }
  try {
    return renderReport(parseJsonReport(text), format);
  } catch (err) {
    throw new ReportError(`${source}: ${(err as Error).message}`);
  }
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

export async function reportCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        namespace: { type: 'string', short: 'n' },
        run: { type: 'string' },
        format: { type: 'string', short: 'f' },
        kubeconfig: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    console.error(
      `conclab report: ${(err as Error).message}\nUsage: conclab report NAME [-n NAMESPACE] [--format md|json|html]`,
    );
    return EXIT_USAGE;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) {
    console.error(
      `conclab report: ${name ? `one experiment at a time (got ${positionals.join(', ')})` : 'name the experiment'}\n` +
        'Usage: conclab report NAME [-n NAMESPACE] [--format md|json|html]   (kubectl get cx lists them)',
    );
    return EXIT_USAGE;
  }
  const format = (values['format'] ?? 'md') as string;
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) {
    console.error(`conclab report: --format ${JSON.stringify(format)} is not one of md, json, html`);
    return EXIT_USAGE;
  }
  // A folder on this machine (a results folder of conclab run), or an experiment in the cluster:
  // experiment names cannot contain "/", so a path that does not exist is not a name either.
  if (isDirectory(name) || name.includes('/')) {
    if (values['run'] !== undefined || values['namespace'] !== undefined) {
      console.error(
        `conclab report: --run and --namespace choose an experiment in the cluster, not a folder (${name})`,
      );
      return EXIT_USAGE;
    }
    try {
      if (!isDirectory(name))
        throw new ReportError(`${name} is not a folder (a results folder of conclab run, or an experiment name)`);
      process.stdout.write(renderFolderReport(name, format as ReportFormat));
      return EXIT_OK;
    } catch (err) {
      console.error(`conclab report: ${(err as Error).message}`);
      return err instanceof ReportError ? err.exitCode : EXIT_FAILED;
    }
  }

  const kubeConfig = new KubeConfig();
  try {
    const path = values['kubeconfig'];
    if (typeof path === 'string') kubeConfig.loadFromFile(path);
    else kubeConfig.loadFromDefault();
  } catch (err) {
    console.error(`conclab report: cannot load the kubeconfig: ${(err as Error).message}`);
    return EXIT_USAGE;
  }
  const namespace =
    (values['namespace'] as string | undefined) ??
    kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ??
    'default';

  try {
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    let cx: ConcurrencyExperiment;
    try {
      cx = (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      })) as ConcurrencyExperiment;
    } catch (err) {
      if (statusCode(err) === 404) {
        throw new ReportError(
          `experiment ${namespace}/${name} not found; \`kubectl get cx -n ${namespace}\` lists the experiments there (or pass -n NAMESPACE)`,
        );
      }
      throw err;
    }
    const run = values['run'];
    const ref = typeof run === 'string' ? locateRun(cx, run) : locateReport(cx);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    let data: Record<string, string> | undefined;
    try {
      data = (await core.readNamespacedConfigMap({ namespace, name: ref.configMap })).data;
    } catch (err) {
      if (statusCode(err) === 404) {
        throw new ReportError(
          `the report ConfigMap ${namespace}/${ref.configMap} named by the status of ${name} does not exist (deleted?); re-apply the experiment to run it again`,
        );
      }
      throw err;
    }
    const text = data?.[ref.key];
    if (text === undefined) {
      throw new ReportError(`ConfigMap ${namespace}/${ref.configMap} has no key ${ref.key}; the report is missing`);
    }
    process.stdout.write(
      renderStoredReport(text, format as ReportFormat, `ConfigMap ${namespace}/${ref.configMap} key ${ref.key}`),
    );
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ReportError) {
      console.error(`conclab report: ${err.message}`);
      return err.exitCode;
    }
    const code = statusCode(err);
    const why =
      code === 401 || code === 403
        ? `the cluster refused the request (HTTP ${code}): ${(err as Error).message}`
        : (err as Error).message;
    console.error(`conclab report: cannot read from the cluster: ${why}`);
    return EXIT_USAGE;
  }
}

/** The dispatcher's command interface (operator/cli/main.ts). */
export const run = reportCommand;
