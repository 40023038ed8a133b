// A real Kubernetes control plane for tests (test infrastructure only): etcd and kube-apiserver
// on 127.0.0.1, started the way controller-runtime's envtest starts them (throwaway PKI, admin
// client certificate in system:masters, RBAC, service-account signing keys). No kubelet,
// scheduler or controller-manager runs: objects are stored and validated, nothing reconciles
// them but the code under test.
//
// Cleanup is layered so no process or temp dir outlives a test run: stop() (call it from
// t.teardown / test.after.always), a handler for process exit and SIGINT/SIGTERM/SIGHUP, and a
// watchdog shell that kills both process groups and removes the temp dir within about a second
// of the test process dying, even by SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { type ClusterBinaries, clusterBinaries, requireClusterBinaries } from './binaries.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { createControlPlanePki } from './pki.ts';

export { serviceAccountUser } from './kubeconfig.ts';

export interface StartControlPlaneOptions {
  /** Bound on the whole start (etcd healthy and kube-apiserver /readyz ok). Default 90 s: the machine is shared. */
  readonly startTimeoutMillis?: number;
  /** Extra kube-apiserver flags, appended after the defaults (a later flag wins). */
  readonly apiServerArgs?: readonly string[];
  /** Binary locations; default: the cache build.sh fills. */
  readonly binaries?: ClusterBinaries;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `apply -f -`). */
  readonly input?: string;
  /** Impersonate this user (`--as`), e.g. serviceAccountUser('ns', 'name'). */
  readonly as?: string;
  /** Default 60 s; on expiry kubectl is killed and code is -1. */
  readonly timeoutMillis?: number;
}

export interface KubectlResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; -1 when kubectl was killed (timeout). */
  readonly code: number;
}

export interface ControlPlane {
  /** Admin kubeconfig (client certificate in system:masters). */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** e.g. v1.34.4 */
  readonly kubernetesVersion: string;
  readonly binaries: ClusterBinaries;
  /** Temp directory holding PKI, etcd data, logs and kubeconfigs; removed by stop(). */
  readonly dir: string;
  readonly pids: { readonly etcd: number; readonly apiServer: number };
  /** How long start took, for the curious (README quotes it). */
  readonly startMillis: number;
  /** Runs the matching kubectl against this control plane as admin (or `as` someone). */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** A @kubernetes/client-node KubeConfig for the admin, or impersonating `impersonate`. */
  kubeConfig(options?: { readonly impersonate?: string; readonly namespace?: string }): KubeConfig;
  /** Writes a kubeconfig file that impersonates `user` (for other processes, e.g. the operator). */
  writeImpersonatingKubeconfig(user: string, options?: { readonly namespace?: string }): Promise<string>;
  /** Kills both processes (whole process groups), waits for them, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<{ dir: string; pgids: number[] }>();

/** Synchronous last-resort cleanup, safe inside an 'exit' handler. */
function cleanupSync(entry: { dir: string; pgids: number[] }): void {
  for (const pgid of entry.pgids) killGroup(pgid, 'SIGKILL');
  rmSync(entry.dir, { recursive: true, force: true });
  live.delete(entry);
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const entry of [...live]) cleanupSync(entry);
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const entry of [...live]) cleanupSync(entry);
      process.removeListener(signal, handler);
      // Re-raise so the default action (or another listener) still ends the process.
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

// Polls once a second; when the test process is gone it kills the recorded process groups
// and removes the directory. It exits by itself when stop() removed the directory, and after
// a hard cap of 6 hours in any case.
const watchdogScript = `
parent="$1"; dir="$2"; i=0
while [ "$i" -lt 21600 ] && [ -d "$dir" ] && kill -0 "$parent" 2>/dev/null; do sleep 1; i=$((i+1)); done
[ -d "$dir" ] || exit 0
for f in "$dir"/*.pgid; do [ -f "$f" ] && kill -KILL "-$(cat "$f")" 2>/dev/null; done
sleep 0.2
rm -rf "$dir"
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not read a free port');
  return address.port;
}

function tail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

class StartError extends Error {
  readonly portInUse: boolean;
  constructor(message: string, portInUse: boolean) {
    super(message);
    this.portInUse = portInUse;
  }
}

function spawnLogged(binary: string, args: string[], logPath: string, dir: string, name: string): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    // detached: own process group, so stop() can kill the group and the watchdog finds it.
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${binary}`);
    writeFileSync(join(dir, `${name}.pgid`), String(child.pid));
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

interface HttpsProbe {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function getStatus(url: string, tls?: HttpsProbe): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = { timeout: 2_000, agent: false as const, ...(tls ?? {}) };
    const req = (url.startsWith('https:') ? request : httpRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitUntil(
  what: string,
  deadline: number,
  child: ChildProcess,
  logPath: string,
  probe: () => Promise<boolean>,
): Promise<void> {
  // Bounded by the deadline; a probe is cheap and the process exiting ends the wait at once.
  for (let attempt = 0; attempt < 10_000; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = tail(logPath);
      throw new StartError(
        `${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before becoming ready; log tail:\n${log}`,
        /address already in use/.test(log),
      );
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new StartError(
        `${what} not ready before the start timeout; log tail (${logPath}):\n${tail(logPath)}`,
        false,
      );
    }
    await sleep(100);
  }
  throw new StartError(`${what} not ready after 10000 probes`, false);
}

/**
 * Starts etcd and kube-apiserver on free 127.0.0.1 ports and returns once /readyz answers ok.
 * Throws with the fix when the binaries are missing (run test/cluster/build.sh). Share one per
 * test file: `test.before` to start, `test.after.always` to stop.
 */
export async function startControlPlane(options: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const binaries = requireClusterBinaries(['etcd', 'kubeApiserver', 'kubectl'], options.binaries ?? clusterBinaries());
  // Free ports are picked then released; a parallel test file could grab one in between, so a
  // start that failed on "address already in use" is retried (bounded).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binaries, options);
    } catch (error) {
      if (!(error instanceof StartError && error.portInUse && attempt < 3)) throw error;
    }
  }
}

async function startOnce(binaries: ClusterBinaries, options: StartControlPlaneOptions): Promise<ControlPlane> {
  const started = Date.now();
  const deadline = started + (options.startTimeoutMillis ?? 90_000);
  const dir = await mkdtemp(join(tmpdir(), 'conclab-control-plane-'));
  const entry = { dir, pgids: [] as number[] };
  live.add(entry);
  installExitHandlers();
  const watchdog = spawn('sh', ['-c', watchdogScript, 'conclab-control-plane-watchdog', String(process.pid), dir], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();

  const children: ChildProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // The data is throwaway, so no graceful shutdown: SIGKILL the groups and wait for the exits.
    for (const pgid of entry.pgids) killGroup(pgid, 'SIGKILL');
    // Children are unref'd while running (a forgotten stop() must not hold the test process
    // open; the exit handler and watchdog cover that); ref them while waiting for their exit.
    for (const child of children) child.ref();
    const timeout = new AbortController();
    await Promise.race([
      Promise.all(children.map(exited)),
      sleep(10_000, undefined, { signal: timeout.signal }).catch(() => undefined),
    ]);
    timeout.abort();
    await rm(dir, { recursive: true, force: true });
    live.delete(entry);
    if (watchdog.pid !== undefined) killGroup(watchdog.pid, 'SIGKILL');
  };

  try {
    const pkiDir = join(dir, 'pki');
    await mkdir(pkiDir);
    const pki = await createControlPlanePki(pkiDir);
    const [etcdClientPort, etcdPeerPort, securePort] = await Promise.all([freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcdLog = join(dir, 'etcd.log');
    const etcd = spawnLogged(
      binaries.etcd,
      [
        '--name=conclab-test',
        `--data-dir=${join(dir, 'etcd-data')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${etcdPeerUrl}`,
        `--initial-advertise-peer-urls=${etcdPeerUrl}`,
        `--initial-cluster=conclab-test=${etcdPeerUrl}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      etcdLog,
      dir,
      'etcd',
    );
    children.push(etcd);
    entry.pgids.push(etcd.pid as number);
    await waitUntil('etcd', deadline, etcd, etcdLog, async () => {
      const { status, body } = await getStatus(`${etcdUrl}/health`);
      return status === 200 && body.includes('"health":"true"');
    });

    const server = `https://127.0.0.1:${securePort}`;
    const apiLog = join(dir, 'kube-apiserver.log');
    const apiServer = spawnLogged(
      binaries.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        `--cert-dir=${pkiDir}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.clientCaCert}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${securePort}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--disable-admission-plugins=ServiceAccount',
        '--authorization-mode=RBAC',
        `--service-account-issuer=${server}/`,
        `--service-account-key-file=${pki.serviceAccountPublicKey}`,
        `--service-account-signing-key-file=${pki.serviceAccountPrivateKey}`,
        ...(options.apiServerArgs ?? []),
      ],
      apiLog,
      dir,
      'kube-apiserver',
    );
    children.push(apiServer);
    entry.pgids.push(apiServer.pid as number);

    const [ca, cert, key, caPem, certPem, keyPem] = await Promise.all([
      readFile(pki.servingCaCert),
      readFile(pki.adminCert),
      readFile(pki.adminKey),
      readFile(pki.servingCaCert, 'utf8'),
      readFile(pki.adminCert, 'utf8'),
      readFile(pki.adminKey, 'utf8'),
    ]);
    await waitUntil('kube-apiserver', deadline, apiServer, apiLog, async () => {
      const { status } = await getStatus(`${server}/readyz`, { ca, cert, key });
      return status === 200;
    });

    const render = (impersonate?: string, namespace?: string): string =>
      renderKubeconfig({
        server,
        caPem,
        clientCertPem: certPem,
        clientKeyPem: keyPem,
        ...(impersonate === undefined ? {} : { impersonate }),
        ...(namespace === undefined ? {} : { namespace }),
      });
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, render(), { mode: 0o600 });
    let impersonations = 0;

    return {
      kubeconfigPath,
      server,
      kubernetesVersion: binaries.kubernetesVersion,
      binaries,
      dir,
      pids: { etcd: etcd.pid as number, apiServer: apiServer.pid as number },
      startMillis: Date.now() - started,
      kubectl: (args, kubectlOptions) => runKubectl(binaries.kubectl, kubeconfigPath, args, kubectlOptions),
      kubeConfig: (configOptions) => {
        const config = new KubeConfig();
        config.loadFromString(render(configOptions?.impersonate, configOptions?.namespace));
        return config;
      },
      writeImpersonatingKubeconfig: async (user, configOptions) => {
        impersonations++;
        const path = join(dir, `kubeconfig-as-${impersonations}`);
        await writeFile(path, render(user, configOptions?.namespace), { mode: 0o600 });
        return path;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Runs `kubectl --kubeconfig=PATH ARGS` (used by the real cluster too); never rejects on a non-zero exit. */
export function runKubectl(
  kubectl: string,
  kubeconfigPath: string,
  args: readonly string[],
  options: KubectlOptions = {},
): Promise<KubectlResult> {
  const fullArgs = [
    `--kubeconfig=${kubeconfigPath}`,
    ...(options.as === undefined ? [] : [`--as=${options.as}`]),
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, fullArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timeoutMillis = options.timeoutMillis ?? 60_000;
    const timer = setTimeout(() => {
      stderr += `\nkubectl killed after ${timeoutMillis} ms`;
      child.kill('SIGKILL');
    }, timeoutMillis);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${kubectl}: ${error.message}; run test/cluster/build.sh`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1 });
    });
    child.stdin.on('error', () => {
      // kubectl may exit before reading stdin; its exit code tells the story.
    });
    child.stdin.end(options.input ?? '');
  });
}
