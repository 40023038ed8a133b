// The Python tracing environment is built for real: python3 -m venv and pip install -r
// workloads/python/requirements.txt from the package index, into a fresh cache directory per
// test. Two processes asking at once build it once; a later call reuses it; an unreachable index
// fails with the reason and leaves nothing behind.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  ensurePythonTracingEnv,
  PythonEnvError,
  pipEnv,
  pipFailureMessage,
  pythonEnvLocation,
  REQUIREMENTS_FILE,
} from '../../../operator/runtime/local/python-env.ts';

const MODULE = fileURLToPath(new URL('../../../operator/runtime/local/python-env.ts', import.meta.url));

function freshCache(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'conclab-python-env-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs ensurePythonTracingEnv in another Node process, as a second conclab would. */
function inAnotherProcess(
  cacheDir: string,
): Promise<{ result: { python: string; built: boolean }; progress: string[] }> {
  const code = `
    import { ensurePythonTracingEnv } from ${JSON.stringify(MODULE)};
    const progress = [];
    const result = await ensurePythonTracingEnv({ cacheDir: ${JSON.stringify(cacheDir)}, onProgress: (l) => progress.push(l) });
    process.stdout.write(JSON.stringify({ result, progress }));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('close', (status) =>
      status === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${status}: ${err}`)),
    );
  });
}

function pinnedRequirements(): Map<string, string> {
  const pins = new Map<string, string>();
  for (const line of readFileSync(REQUIREMENTS_FILE, 'utf8').split('\n')) {
    const m = /^([A-Za-z0-9_.-]+)==(\S+)$/.exec(line.trim());
    if (m) pins.set(m[1]!.toLowerCase().replace(/[-_.]+/g, '-'), m[2]!);
  }
  return pins;
}

test('two processes asking at once build the environment once; it holds exactly the pinned packages', async (t) => {
  t.timeout(600_000);
  const cacheDir = freshCache(t);
  const progress: string[] = [];
  const [here, there] = await Promise.all([
    ensurePythonTracingEnv({ cacheDir, onProgress: (l) => progress.push(l) }),
    inAnotherProcess(cacheDir),
  ]);
  t.is(here.python, there.result.python, 'the same interpreter');
  t.is([here.built, there.result.built].filter(Boolean).length, 1, 'built by exactly one of them');
  const waited = here.built ? there.progress : progress;
  const built = here.built ? progress : there.progress;
  t.true(
    waited.some((l) => /waiting for process \d+, which is preparing/.test(l)),
    `the other waited: ${waited.join(' | ')}`,
  );
  t.true(built.some((l) => l.startsWith('pip: Successfully installed')));
  t.regex(here.version, /^3\.\d+\.\d+$/);
  t.true(here.python.startsWith(path.join(cacheDir, 'python')));
  // Exactly the pinned set: no transitive dependency unpinned.
  const freeze = spawnSync(here.python, ['-m', 'pip', 'freeze', '--all'], { encoding: 'utf8' });
  t.is(freeze.status, 0, freeze.stderr);
  const installed = new Map<string, string>();
  for (const line of freeze.stdout.trim().split('\n')) {
    const [name, version] = line.split('==');
    const key = name!.toLowerCase().replace(/[-_.]+/g, '-');
    if (key !== 'pip' && key !== 'setuptools') installed.set(key, version!);
  }
  t.deepEqual(Object.fromEntries([...installed].sort()), Object.fromEntries([...pinnedRequirements()].sort()));
  t.deepEqual(readdirSync(path.join(cacheDir, 'python')), [path.basename(here.dir)], 'no temporary directory, no lock');

  const again: string[] = [];
  const reused = await ensurePythonTracingEnv({ cacheDir, onProgress: (l) => again.push(l) });
  t.like(reused, { python: here.python, version: here.version, built: false });
  t.deepEqual(again, [], 'a ready environment is reused silently');
  const imports = spawnSync(reused.python, ['-c', 'import opentelemetry.sdk.trace; print("ok")'], { encoding: 'utf8' });
  t.is(imports.stdout.trim(), 'ok');
});

test("when pip cannot reach the index it fails saying so; a dead builder's lock and directory do not stay either", async (t) => {
  t.timeout(300_000);
  const cacheDir = freshCache(t);
  // An index that refuses connections: a port that was just free.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const env = {
    ...process.env,
    PIP_INDEX_URL: `http://127.0.0.1:${port}/simple`,
    PIP_EXTRA_INDEX_URL: '',
    PIP_FIND_LINKS: '',
    PIP_NO_CACHE_DIR: '1',
  };
  // A lock left by a process that died mid-build must not hold this call up.
  const { dir, lock } = await pythonEnvLocation({ cacheDir, env });
  mkdirSync(path.dirname(lock), { recursive: true });
  const dead = spawnSync('true').pid;
  writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), at: Date.now() }));
  // And the half-built directory it left.
  const orphan = `${dir}.build-${dead}-abcdef`;
  mkdirSync(path.join(orphan, 'bin'), { recursive: true });
  const progress: string[] = [];
  const error = await t.throwsAsync(
    ensurePythonTracingEnv({ cacheDir, env, pipRetries: 1, pipTimeoutSeconds: 5, onProgress: (l) => progress.push(l) }),
  );
  t.true(error instanceof PythonEnvError);
  t.is((error as PythonEnvError).step, 'pip');
  t.regex(error!.message, /pip could not reach the package index/);
  t.regex(error!.message, /Fix: .*PIP_INDEX_URL/);
  t.false(
    progress.some((l) => l.startsWith('waiting')),
    'the stale lock was broken, not waited on',
  );
  t.deepEqual(readdirSync(path.join(cacheDir, 'python')), [], 'nothing left behind');
});

test('a base interpreter that cannot run is named, with what to install', async (t) => {
  const error = await t.throwsAsync(
    ensurePythonTracingEnv({ basePython: '/nonexistent/python3', cacheDir: freshCache(t) }),
  );
  t.true(error instanceof PythonEnvError);
  t.is((error as PythonEnvError).step, 'interpreter');
  t.regex(error!.message, /cannot run \/nonexistent\/python3 .*install CPython 3\.11 or later/);
});

test('pip trusts the system CA bundle where it exists, unless PIP_CERT says otherwise, and installs into the venv', (t) => {
  const env = pipEnv({ PATH: '/bin', PIP_USER: '1', PYTHONPATH: '/x', HOME: '/root' }, true);
  t.is(env['PIP_CERT'], '/etc/ssl/certs/ca-certificates.crt');
  t.is(env['PIP_USER'], undefined);
  t.is(env['PYTHONPATH'], undefined);
  t.is(env['PATH'], '/bin');
  t.is(pipEnv({ PIP_CERT: '/my/ca.pem' }, true)['PIP_CERT'], '/my/ca.pem');
  t.is(pipEnv({}, false)['PIP_CERT'], undefined, 'no bundle on this host: pip keeps its own');
  t.is(existsSync('/etc/ssl/certs/ca-certificates.crt'), pipEnv({})['PIP_CERT'] !== undefined);
});

test('a pip failure reads as an unreachable index only when pip says the connection failed', (t) => {
  t.regex(
    pipFailureMessage(
      "WARNING: Retrying ... NewConnectionError('Failed to establish a new connection')",
      'exit code 1',
    ),
    /could not reach the package index/,
  );
  t.regex(
    pipFailureMessage('ERROR: Could not find a version that satisfies the requirement foo==9', 'exit code 1'),
    /^pip found no version pinned in workloads\/python\/requirements\.txt at its package index/,
  );
  const other = pipFailureMessage('ERROR: Failed building wheel for x', 'exit code 1');
  t.regex(other, /^pip install -r workloads\/python\/requirements\.txt failed \(exit code 1\)/);
  t.notRegex(other, /reach/);
});
