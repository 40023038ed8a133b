// The real `conclab` bin as a child process: what a user types, what they see, the exit code.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT } from '../../operator/api/generate.ts';

const BIN = join(ROOT, 'operator', 'cli', 'conclab.js');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function conclab(args: string[], input?: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'conclab-cli-validate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const valid = `apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata:
  name: demo
spec:
  workload:
    profile: cpu
  resources:
    cpu: "1"
    memory: 512Mi
  variants:
    - name: processes
      model: process
      workers: 4
    - name: threads
      model: thread
      workers: 4
  load:
    rate: 120
`;

const fiveMistakes = `apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata:
  name: five-mistakes
spec:
  workload:
    profile: cpu
    cpuTime: 5ms
    colour: blue
  resources:
    cpu: "1"
    memory: 512Gb
  variants:
    - name: processes
      model: process
      workers: 0
    - name: processes
      model: thread
      workers: 4
  load:
    rate: "120"
`;

test('examples/*.yaml are all valid: exit 0', async (t) => {
  const examples = readdirSync(join(ROOT, 'examples'))
    .filter((name) => name.endsWith('.yaml'))
    .map((name) => join('examples', name));
  t.true(examples.length >= 5);
  const { code, stdout, stderr } = await conclab(['validate', ...examples]);
  t.is(stderr, '');
  t.is(code, 0, stdout);
  t.is(stdout.trim().split('\n').length, examples.length);
  t.regex(stdout, /examples\/quickstart\.yaml: valid \(quickstart\)/);
});

test('five different mistakes print exactly five precise lines and exit 1', async (t) => {
  const file = join(tempDir(t), 'five.yaml');
  writeFileSync(file, fiveMistakes);
  const { code, stdout, stderr } = await conclab(['validate', file]);
  t.is(code, 1);
  t.is(stderr, '');
  t.deepEqual(stdout.trimEnd().split('\n'), [
    `${file}:9: spec.workload.colour: is not a field of spec.workload; allowed: runtime, profile, cpuTime, ioWait, responseBytes, replaceWorkers, racyUpdates, image`,
    `${file}:12: spec.resources.memory: "512Gb" is not a Kubernetes quantity; allowed: a Kubernetes quantity as a string: a number with an optional suffix m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei, such as "500m", "2" or "512Mi"`,
    `${file}:16: spec.variants[0].workers: 0 is out of range; allowed: an integer from 1 to 256`,
    `${file}:17: spec.variants[1].name: "processes" is also the name of spec.variants[0]; allowed: a name no other variant has (variant names must be unique)`,
    `${file}:21: spec.load.rate: "120" is a string; allowed: an integer from 1 to 1000000`,
  ]);
});

test('a multi-document file: each document is checked and named by its number', async (t) => {
  const file = join(tempDir(t), 'multi.yaml');
  writeFileSync(
    file,
    `${valid}---\n${valid.replace('name: demo', 'name: two').replace('model: thread', 'model: fibre')}`,
  );
  const { code, stdout } = await conclab(['validate', file]);
  t.is(code, 1);
  t.deepEqual(stdout.trimEnd().split('\n'), [
    `${file}#2:36: spec.variants[1].model: "fibre" is not allowed; allowed: one of "process", "thread", "offload"`,
  ]);
});

test('valid and invalid files together: every file is reported, exit 1', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), valid);
  writeFileSync(join(dir, 'b.yaml'), valid.replace('rate: 120', 'rate: 0'));
  const { code, stdout } = await conclab(['validate', join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
  t.is(code, 1);
  t.regex(stdout, /a\.yaml: valid \(demo\)/);
  t.regex(stdout, /b\.yaml:19: spec\.load\.rate: 0 is out of range/);
});

test('--quiet prints nothing for valid files', async (t) => {
  const { code, stdout } = await conclab(['validate', '--quiet', 'examples/quickstart.yaml']);
  t.is(code, 0);
  t.is(stdout, '');
});

test('a file that does not exist exits 2 and says which', async (t) => {
  const missing = join(tempDir(t), 'missing.yaml');
  const { code, stdout, stderr } = await conclab(['validate', missing]);
  t.is(code, 2);
  t.is(stdout, '');
  t.is(stderr.trim(), `${missing}: cannot be read (ENOENT); give the path of a YAML manifest`);
});

test('an unreadable file exits 2 even when other files are valid', async (t) => {
  const dir = tempDir(t);
  // A directory cannot be read as a file, whatever the user's permissions (tests run as root).
  const { code, stderr } = await conclab(['validate', 'examples/quickstart.yaml', dir]);
  t.is(code, 2);
  t.regex(stderr, /cannot be read \(EISDIR\)/);
});

test('validate without a file is a usage error: exit 2 with the usage line', async (t) => {
  const { code, stderr } = await conclab(['validate']);
  t.is(code, 2);
  t.regex(stderr, /no FILE given/);
  t.regex(stderr, /Usage: conclab validate/);
});

test('an unknown option is a usage error: exit 2', async (t) => {
  const { code, stderr } = await conclab(['validate', '--strict', 'examples/quickstart.yaml']);
  t.is(code, 2);
  t.regex(stderr, /unknown option --strict/);
});

test('validate --help documents the line format and the exit codes', async (t) => {
  const { code, stdout } = await conclab(['validate', '--help']);
  t.is(code, 0);
  t.regex(stdout, /^Usage: conclab validate/);
  t.regex(stdout, /FILE\[#DOCUMENT\]:LINE: FIELD: VALUE PROBLEM; allowed: WHAT IS ALLOWED/);
  t.regex(stdout, /0 {2}every file is valid/);
  t.regex(stdout, /1 {2}at least one manifest is invalid/);
  t.regex(stdout, /2 {2}usage error, or a file cannot be read/);
});

test('--help lists the commands; no arguments prints usage and exits 2', async (t) => {
  const help = await conclab(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Commands:\n/);
  t.regex(help.stdout, /^ {2}validate +check manifests/m);
  const bare = await conclab([]);
  t.is(bare.code, 2);
  t.regex(bare.stderr, /Usage: conclab COMMAND/);
});

test('an unknown command exits 2 and lists the known ones', async (t) => {
  const { code, stderr } = await conclab(['valdiate', 'x.yaml']);
  t.is(code, 2);
  t.regex(stderr, /unknown command "valdiate"; commands: .*validate/);
});

test('FILE "-" reads the manifest from standard input', async (t) => {
  const good = await conclab(['validate', '-'], valid);
  t.is(good.code, 0);
  t.is(good.stdout.trim(), '<stdin>: valid (demo)');
  const bad = await conclab(['validate', '-'], valid.replace('workers: 4', 'workers: 0'));
  t.is(bad.code, 1);
  t.is(bad.stdout.trim(), '<stdin>:14: spec.variants[0].workers: 0 is out of range; allowed: an integer from 1 to 256');
});

test('a 50 MB manifest is refused unread: one line naming its size and the limit, exit 1', async (t) => {
  const file = join(tempDir(t), 'huge.yaml');
  writeFileSync(file, `${valid}# ${'x'.repeat(50 * 1024 * 1024)}\n`);
  const { code, stdout, stderr } = await conclab(['validate', file]);
  t.is(code, 1);
  t.is(stderr, '');
  t.is(
    stdout.trim(),
    `${file}: is ${valid.length + 50 * 1024 * 1024 + 3} bytes, too large to be an experiment; allowed: a manifest of at most 1.5 MiB (1572864 bytes), the most etcd stores for one object`,
  );
});

test('values a run cannot execute are named with the field and the range, exit 1', async (t) => {
  const file = join(tempDir(t), 'hostile.yaml');
  writeFileSync(file, `${valid}    duration: 0s\n    timeout: 0s\n  faults:\n    - kind: exit\n      at: 0s\n`);
  const { code, stdout } = await conclab(['validate', file]);
  t.is(code, 1);
  t.deepEqual(stdout.trimEnd().split('\n'), [
    `${file}:20: spec.load.duration: "0s" is too short; allowed: a duration from 1s to 24h`,
    `${file}:21: spec.load.timeout: "0s" is too short; allowed: a duration from 1ms to 10m`,
    `${file}:24: spec.faults[0].at: "0s" is too short; allowed: a duration from 1s to 24h`,
    // Every problem, as the API server lists them too: with no measured load, no fault fits.
    `${file}:24: spec.faults[0].at: "0s" is not before the measured load ends (0ms); allowed: a duration less than load.duration`,
  ]);
});

test('YAML is read as kubectl reads it; a duplicate key is a warning on stderr, exit 0', async (t) => {
  const text = valid
    .replace('workers: 4\n    - name: threads', 'workers: 010\n    - name: threads')
    .replace('rate: 120', 'rate: 1_000\n    rate: 1_200');
  const { code, stdout, stderr } = await conclab(['validate', '-'], text);
  t.is(code, 0, stdout);
  t.is(stdout.trim(), '<stdin>: valid (demo)');
  t.is(stderr.trim(), '<stdin>:20: warning: duplicate key "rate": the later value is used, as kubectl does');
});
