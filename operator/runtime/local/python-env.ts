// The Python workload is traced out of the box: the first time a run needs it, this builds a
// virtual environment with the OpenTelemetry packages pinned in workloads/python/requirements.txt
// (python3 -m venv, then pip install -r), and every later run reuses it. The environment is
// cached outside the repository, one per requirements file and base interpreter:
// ${CONCLAB_CACHE:-~/.cache/conclab}/python/<hash>.
//
// Atomic and safe against concurrent callers: it is built in a temporary directory beside its
// final place and renamed there only once pip succeeded and the packages import; a lock file
// keeps a second caller (another conclab, another test file) from downloading the same set at
// the same time, and the rename decides if two builds ever race (the loser discards its own).
// A venv is relocatable as far as bin/python goes (pyvenv.cfg names the base interpreter, not the
// venv), which is all that is used: the workload runs as <env>/bin/python, pip as python -m pip.
//
// When pip cannot reach the package index the promise rejects with a PythonEnvError saying so;
// the caller runs the workload untraced and warns.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REQUIREMENTS_FILE = fileURLToPath(new URL('../../../workloads/python/requirements.txt', import.meta.url));

/** The CA bundle of Debian-family hosts; pip trusts only its own certifi copy unless told. */
const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const MARKER = 'conclab-env.json';
const VERIFY_IMPORTS =
  'import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter, platform; print(platform.python_version())';

export interface PythonTracingEnv {
  /** Interpreter of the environment: run the workload with it. */
  python: string;
  /** Its version, e.g. "3.11.7". */
  version: string;
  /** The environment's directory. */
  dir: string;
  /** This call built it (false: it was there already). */
  built: boolean;
}

export interface PythonEnvOptions {
  /** One line per step, worded for the terminal (building takes tens of seconds, once). */
  onProgress?: (line: string) => void;
  /** Interpreter the environment is made from; default python3 on PATH, as the workload runs untraced. */
  basePython?: string;
  /** Cache root; default CONCLAB_CACHE or ~/.cache/conclab. The environment is <cacheDir>/python/<hash>. */
  cacheDir?: string;
  /** Default: workloads/python/requirements.txt. */
  requirementsFile?: string;
  /** Environment of venv and pip (proxies, PIP_INDEX_URL, ...); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** pip's timeout per network request, s. Default 30. */
  pipTimeoutSeconds?: number;
  /** pip's retries per network request. Default 2. */
  pipRetries?: number;
  /** Bound on waiting for another process that builds the same environment. Default 600000. */
  lockWaitMillis?: number;
  /** Bound on the whole pip install. Default 900000. */
  installTimeoutMillis?: number;
}

export type PythonEnvStep = 'interpreter' | 'venv' | 'pip' | 'verify' | 'lock';

/** Why the tracing environment could not be prepared; `message` says what to do about it. */
export class PythonEnvError extends Error {
  readonly step: PythonEnvStep;
  constructor(step: PythonEnvStep, message: string) {
    super(message);
    this.name = 'PythonEnvError';
    this.step = step;
  }
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

function run(
  argv: string[],
  options: { env: NodeJS.ProcessEnv; timeoutMillis: number; onStdoutLine?: (line: string) => void },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (options.onStdoutLine === undefined) return;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onStdoutLine(line);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMillis);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr, error });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n    ');
}

// pip's words for "the index could not be reached" (connection, DNS, TLS, proxy, timeouts).
const NETWORK_FAILURE =
  /NewConnectionError|Max retries exceeded|Failed to establish a new connection|Name or service not known|Temporary failure in name resolution|ConnectTimeout|Read timed out|ProxyError|SSLError|CERTIFICATE_VERIFY_FAILED|Network is unreachable|Connection refused/;
const NOT_SERVED = /No matching distribution found|Could not find a version that satisfies/;

/** The message for a failed pip install: unreachable index or something else, with the fix. */
export function pipFailureMessage(stderr: string, exit: string): string {
  const tail = lastLines(stderr, 6);
  if (NETWORK_FAILURE.test(stderr)) {
    return (
      `pip could not reach the package index to install the OpenTelemetry packages (${exit}):\n    ${tail}\n` +
      'Fix: give this machine access to the index (a proxy through HTTPS_PROXY, a mirror through PIP_INDEX_URL, ' +
      "a TLS-intercepting proxy's CA through PIP_CERT), or run the workload under an interpreter that has the " +
      'packages of workloads/python/requirements.txt.'
    );
  }
  if (NOT_SERVED.test(stderr)) {
    return (
      `pip found no version pinned in workloads/python/requirements.txt at its package index (${exit}):\n    ${tail}\n` +
      'Fix: check that the index is reachable and serves them (PIP_INDEX_URL names a mirror), or that pip.conf does not point elsewhere.'
    );
  }
  return `pip install -r workloads/python/requirements.txt failed (${exit}):\n    ${tail}`;
}

function exitText(r: RunResult): string {
  if (r.error) return r.error.message;
  return r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
}

/** pip trusts only its bundled certifi unless told; where the system bundle exists, use it too. */
export function pipEnv(env: NodeJS.ProcessEnv, caBundleExists = existsSync(SYSTEM_CA_BUNDLE)): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' };
  // A venv's pip must install into the venv, whatever the user's pip configuration says.
  delete out['PIP_USER'];
  delete out['PIP_TARGET'];
  delete out['PIP_PREFIX'];
  delete out['VIRTUAL_ENV'];
  delete out['PYTHONHOME'];
  delete out['PYTHONPATH'];
  if (out['PIP_CERT'] === undefined && caBundleExists) out['PIP_CERT'] = SYSTEM_CA_BUNDLE;
  return out;
}

export interface BaseInterpreter {
  version: string;
  executable: string;
}

async function probeBase(basePython: string, env: NodeJS.ProcessEnv): Promise<BaseInterpreter> {
  const r = await run(
    [
      basePython,
      '-c',
      'import os, platform, sys; print(platform.python_version()); print(os.path.realpath(sys.executable))',
    ],
    { env, timeoutMillis: 30_000 },
  );
  if (r.code !== 0) {
    throw new PythonEnvError(
      'interpreter',
      `cannot run ${basePython} (${exitText(r)}${r.stderr ? `: ${lastLines(r.stderr, 2)}` : ''}); install CPython 3.11 or later`,
    );
  }
  const [version = '', executable = ''] = r.stdout.trim().split('\n');
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 3 || (major === 3 && minor < 11)) {
    throw new PythonEnvError(
      'interpreter',
      `${basePython} is Python ${version}; the workload needs CPython 3.11 or later`,
    );
  }
  return { version, executable };
}

/** The cache key: the requirements and the interpreter the environment is made from. */
export function envKey(requirements: string, base: BaseInterpreter): string {
  return createHash('sha256')
    .update(requirements)
    .update('\0')
    .update(`${base.executable}\0${base.version}`)
    .digest('hex')
    .slice(0, 16);
}

async function verify(dir: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const python = path.join(dir, 'bin', 'python');
  if (!existsSync(python) || !existsSync(path.join(dir, MARKER))) return undefined;
  const r = await run([python, '-c', VERIFY_IMPORTS], { env, timeoutMillis: 60_000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock file; waits (bounded) while a live process on this host holds it. */
async function acquireLock(
  file: string,
  waitMillis: number,
  ready: () => Promise<boolean>,
  progress: (line: string) => void,
): Promise<'locked' | 'ready'> {
  const deadline = Date.now() + waitMillis;
  let announced = false;
  const me = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() });
  for (;;) {
    try {
      await writeFile(file, me, { flag: 'wx' });
      return 'locked';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PythonEnvError('lock', `cannot create the lock ${file}: ${(err as Error).message}`);
      }
    }
    let holder: { pid?: number; host?: string } = {};
    try {
      holder = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      // Being written or just removed: look again.
    }
    if (holder.pid !== undefined && holder.host === hostname() && !pidAlive(holder.pid)) {
      // Its owner died mid-build (its temporary directory is its own and is never renamed).
      await unlink(file).catch(() => {});
      continue;
    }
    if (await ready()) return 'ready';
    if (Date.now() > deadline) {
      throw new PythonEnvError(
        'lock',
        `waited ${Math.round(waitMillis / 1000)} s for process ${holder.pid ?? '?'} to finish preparing the Python tracing environment (lock ${file}); remove the lock if that process is gone`,
      );
    }
    if (!announced) {
      progress(`waiting for process ${holder.pid ?? '?'}, which is preparing the same Python tracing environment`);
      announced = true;
    }
    await sleep(250);
  }
}

async function build(
  dir: string,
  base: BaseInterpreter,
  basePython: string,
  requirementsFile: string,
  key: string,
  options: Required<Pick<PythonEnvOptions, 'pipTimeoutSeconds' | 'pipRetries' | 'installTimeoutMillis'>> & {
    env: NodeJS.ProcessEnv;
    progress: (line: string) => void;
  },
): Promise<string> {
  const tmp = `${dir}.build-${process.pid}-${randomBytes(3).toString('hex')}`;
  const { env, progress } = options;
  const started = Date.now();
  try {
    progress(`creating a virtual environment from ${basePython} (Python ${base.version})`);
    const venv = await run([basePython, '-m', 'venv', tmp], { env, timeoutMillis: 180_000 });
    if (venv.code !== 0) {
      const missing = /ensurepip is not available|No module named venv/.test(venv.stdout + venv.stderr);
      throw new PythonEnvError(
        'venv',
        missing
          ? `${basePython} -m venv is not available: on Debian or Ubuntu install the python3-venv package (apt-get install python3-venv)`
          : `${basePython} -m venv ${tmp} failed (${exitText(venv)}): ${lastLines(venv.stdout + venv.stderr, 4)}`,
      );
    }
    progress('installing the pinned OpenTelemetry packages with pip (workloads/python/requirements.txt)');
    const python = path.join(tmp, 'bin', 'python');
    const pip = await run(
      [
        python,
        '-m',
        'pip',
        'install',
        '--timeout',
        String(options.pipTimeoutSeconds),
        '--retries',
        String(options.pipRetries),
        '--progress-bar',
        'off',
        '-r',
        requirementsFile,
      ],
      {
        env: pipEnv(env),
        timeoutMillis: options.installTimeoutMillis,
        onStdoutLine: (line) => {
          if (/^(Collecting|Installing collected packages|Successfully installed)/.test(line))
            progress(`pip: ${line.replace(/ \(from -r .*\)$/, '')}`);
        },
      },
    );
    if (pip.code !== 0) throw new PythonEnvError('pip', pipFailureMessage(pip.stderr || pip.stdout, exitText(pip)));
    const marker = { key, requirements: requirementsFile, base: base.executable, version: base.version };
    await writeFile(path.join(tmp, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    if ((await verify(tmp, env)) === undefined) {
      throw new PythonEnvError('verify', `the packages were installed in ${tmp} but do not import`);
    }
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another builder renamed its own first: keep that one.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    progress(`Python tracing environment ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${dir}`);
    const version = await verify(dir, env);
    if (version === undefined) throw new PythonEnvError('verify', `${dir} was moved into place but does not import`);
    return version;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Removes <dir>.build-<pid>-* directories whose builder process is gone. */
async function removeDeadBuilds(dir: string): Promise<void> {
  const prefix = `${path.basename(dir)}.build-`;
  let entries: string[];
  try {
    entries = await readdir(path.dirname(dir));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) {
      await rm(path.join(path.dirname(dir), entry), { recursive: true, force: true });
    }
  }
}

const inProcess = new Map<string, Promise<PythonTracingEnv>>();

/** Where the environment for these options lives (it may not exist yet), and its lock file. */
export async function pythonEnvLocation(
  options: Pick<PythonEnvOptions, 'basePython' | 'cacheDir' | 'requirementsFile' | 'env'> = {},
): Promise<{ dir: string; lock: string; base: BaseInterpreter; requirementsFile: string }> {
  const env = options.env ?? process.env;
  const requirementsFile = options.requirementsFile ?? REQUIREMENTS_FILE;
  let requirements: string;
  try {
    requirements = readFileSync(requirementsFile, 'utf8');
  } catch (err) {
    throw new PythonEnvError('pip', `cannot read ${requirementsFile}: ${(err as Error).message}`);
  }
  const base = await probeBase(options.basePython ?? 'python3', env);
  const cacheRoot = options.cacheDir ?? env['CONCLAB_CACHE'] ?? path.join(homedir(), '.cache', 'conclab');
  const dir = path.join(cacheRoot, 'python', envKey(requirements, base));
  return { dir, lock: `${dir}.lock`, base, requirementsFile };
}

/**
 * The interpreter of the Python tracing environment, built the first time (tens of seconds) and
 * reused afterwards (a quick import check). Rejects with a PythonEnvError naming the problem and
 * the fix; nothing half-built is left behind.
 */
export async function ensurePythonTracingEnv(options: PythonEnvOptions = {}): Promise<PythonTracingEnv> {
  const env = options.env ?? process.env;
  const progress = options.onProgress ?? (() => {});
  const basePython = options.basePython ?? 'python3';
  const { dir, lock, base, requirementsFile } = await pythonEnvLocation(options);
  const key = path.basename(dir);
  const memo = `${dir}\0${basePython}`;
  const pending = inProcess.get(memo);
  if (pending !== undefined) return pending;
  const work = (async (): Promise<PythonTracingEnv> => {
    const existing = await verify(dir, env);
    if (existing !== undefined)
      return { python: path.join(dir, 'bin', 'python'), version: existing, dir, built: false };
    await mkdir(path.dirname(dir), { recursive: true });
    progress(`preparing the Python tracing environment (once per requirements file): ${dir}`);
    const outcome = await acquireLock(
      lock,
      options.lockWaitMillis ?? 600_000,
      async () => (await verify(dir, env)) !== undefined,
      progress,
    );
    if (outcome === 'ready') {
      return { python: path.join(dir, 'bin', 'python'), version: (await verify(dir, env))!, dir, built: false };
    }
    try {
      const again = await verify(dir, env);
      if (again !== undefined) return { python: path.join(dir, 'bin', 'python'), version: again, dir, built: false };
      // A directory without a working interpreter is a broken leftover (a base interpreter that
      // moved): replace it. So are the build directories of builders that died (killed mid-pip).
      await rm(dir, { recursive: true, force: true });
      await removeDeadBuilds(dir);
      const version = await build(dir, base, basePython, requirementsFile, key, {
        env,
        progress,
        pipTimeoutSeconds: options.pipTimeoutSeconds ?? 30,
        pipRetries: options.pipRetries ?? 2,
        installTimeoutMillis: options.installTimeoutMillis ?? 900_000,
      });
      return { python: path.join(dir, 'bin', 'python'), version, dir, built: true };
    } finally {
      await unlink(lock).catch(() => {});
    }
  })();
  inProcess.set(memo, work);
  try {
    return await work;
  } finally {
    inProcess.delete(memo);
  }
}
