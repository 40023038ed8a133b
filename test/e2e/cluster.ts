// The whole cluster path on one machine, for end-to-end tests: the real control plane
// (test/cluster), the chart's ServiceAccount and RBAC rendered by helm and applied, the test
// node agent playing the kubelet, and the REAL operator as a child process (`conclab
// operator`) with a kubeconfig that impersonates the chart's ServiceAccount, so it has exactly
// the chart's rights. Everything is torn down by stop(), also after a failed test.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { requireClusterBinaries } from '../cluster/binaries.ts';
import { type ControlPlane, serviceAccountUser, startControlPlane } from '../cluster/control-plane.ts';
import { type NodeAgent, startNodeAgent } from '../cluster/node-agent/node-agent.ts';
import { Api, createNamespace, installCrd, ROOT } from '../controller/helpers.ts';

const run = promisify(execFile);
export const RELEASE_NAMESPACE = 'conclab-system';
export const CONCLAB_BIN = join(ROOT, 'operator', 'cli', 'conclab.js');

export interface OperatorProcess {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface E2eCluster {
  readonly cp: ControlPlane;
  readonly agent: NodeAgent;
  readonly api: Api;
  readonly namespace: string;
  readonly operator: OperatorProcess;
  /** Writes a manifest to a temp file and `kubectl apply -f`s it (as a user would). */
  applyManifest(doc: unknown): Promise<void>;
  /** Runs `conclab ARGS` against the cluster (admin kubeconfig). */
  conclab(args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
  /** Operator output and node agent log, for failure messages. */
  diagnostics(): string;
  stop(): Promise<void>;
}

/** The chart rendered for `namespace`, reduced to the ServiceAccount and its RBAC (no kubelet would run the Deployment's image). */
async function chartRbac(cp: ControlPlane, namespace: string): Promise<string> {
  const { helm } = requireClusterBinaries(['helm'], cp.binaries);
  const { stdout } = await run(
    helm,
    [
      'template',
      'conclab',
      join(ROOT, 'charts', 'conclab'),
      '--namespace',
      RELEASE_NAMESPACE,
      '--set',
      `watchNamespaces={${namespace}}`,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout
    .split(/^---$/m)
    .filter((doc) => /^kind: (ServiceAccount|Role|RoleBinding)\s*$/m.test(doc))
    .join('\n---\n');
}

async function startOperatorProcess(
  kubeconfig: string,
  namespace: string,
  agentLog: string[],
): Promise<OperatorProcess> {
  const child = spawn(
    process.execPath,
    [
      CONCLAB_BIN,
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--namespaces',
      namespace,
      '--bind-address',
      '127.0.0.1',
      '--http-port',
      '0',
      '--otlp-port',
      '0',
      '--deploy-timeout',
      '60s',
      '--leader-elect',
      '--lease-namespace',
      RELEASE_NAMESPACE,
    ],
    { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 400_000) output = output.slice(-200_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Started when it says where it serves; an early exit (CRD missing, RBAC refused) fails at once.
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 1000 && !/serving http/.test(output); i++) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // Gone.
      }
      throw new Error(`conclab operator did not start:\n${output}\nnode agent:\n${agentLog.join('\n')}`);
    }
    await sleep(100);
  }
  let stopping: Promise<void> | undefined;
  return {
    child,
    output: () => output,
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        try {
          process.kill(-(child.pid as number), 'SIGTERM');
        } catch {
          return;
        }
        await Promise.race([exited, sleep(15_000)]);
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // Exited on SIGTERM.
        }
        await Promise.race([exited, sleep(5000)]);
      })();
      return stopping;
    },
  };
}

export async function startE2eCluster(namespace: string): Promise<E2eCluster> {
  const agentLog: string[] = [];
  const cp = await startControlPlane();
  let agent: NodeAgent | undefined;
  let operator: OperatorProcess | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'conclab-e2e-'));
  const stop = async () => {
    await operator?.stop();
    await agent?.stop();
    await cp.stop();
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    await installCrd(cp);
    await createNamespace(cp, RELEASE_NAMESPACE);
    await createNamespace(cp, namespace);
    const rbac = await cp.kubectl(['apply', '-f', '-'], { input: await chartRbac(cp, namespace) });
    if (rbac.code !== 0) throw new Error(`applying the chart's RBAC failed: ${rbac.stderr}`);
    agent = await startNodeAgent({
      kubeConfig: cp.kubeConfig(),
      initialBackoffMillis: 2000,
      maxGraceMillis: 5000,
      heartbeatMillis: 2000,
      log: (line) => agentLog.push(`${new Date().toISOString()} ${line}`),
    });
    const asChart = await cp.writeImpersonatingKubeconfig(serviceAccountUser(RELEASE_NAMESPACE, 'conclab'));
    operator = await startOperatorProcess(asChart, namespace, agentLog);
  } catch (err) {
    await stop();
    throw err;
  }
  const api = new Api(cp.kubeConfig());
  let manifests = 0;
  const op = operator;
  const node = agent;
  return {
    cp,
    agent: node,
    api,
    namespace,
    operator: op,
    applyManifest: async (doc) => {
      const file = join(tmp, `manifest-${++manifests}.yaml`);
      writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc));
      const r = await cp.kubectl(['apply', '-n', namespace, '-f', file]);
      if (r.code !== 0) throw new Error(`kubectl apply -f ${file} failed: ${r.stderr}`);
    },
    conclab: (args) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [CONCLAB_BIN, ...args, '--kubeconfig', cp.kubeconfigPath],
          { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
            resolve({ stdout, stderr, code });
          },
        );
      }),
    diagnostics: () =>
      `--- operator output ---\n${op.output().slice(-20_000)}\n--- node agent ---\n${agentLog.slice(-200).join('\n')}`,
    stop,
  };
}

/** An example manifest with durations shortened for a test; `edit` changes the parsed object. */
export function shortenedExample(file: string, edit: (doc: Manifest) => void): Manifest {
  const doc = parse(readFileSync(join(ROOT, 'examples', file), 'utf8')) as Manifest;
  edit(doc);
  return doc;
}

/** A parsed example manifest, edited by tests. */
export interface Manifest {
  metadata: { name: string; namespace?: string };
  spec: {
    load: Record<string, unknown>;
    trials?: number;
    faults?: Record<string, unknown>[];
    tracing?: Record<string, unknown>;
    workload: Record<string, unknown>;
    resources: { cpu: string; memory: string };
    variants: { name: string; model: string; workers: number }[];
  };
}
