import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ConcurrencyExperimentSpec } from '../../operator/api/schema.ts';
import {
  checkManifest,
  formatProblem,
  loadExperiments,
  MAX_MANIFEST_BYTES,
  ManifestError,
  parseExperiment,
  parseExperiments,
  readManifest,
} from '../../operator/api/validate.ts';
import { manifest, manifestCases } from './manifest-cases.ts';

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
    duration: 10s
`;

const lines = (text: string, file = 'x.yaml') => checkManifest(text, file).problems.map(formatProblem);

test('a valid manifest has no problems and comes back with every default applied', (t) => {
  const experiment = parseExperiment(valid, 'demo.yaml');
  t.is(experiment.metadata.name, 'demo');
  t.deepEqual(experiment.spec.workload, {
    profile: 'cpu',
    runtime: 'node',
    cpuTime: '5ms',
    ioWait: '0ms',
    responseBytes: 256,
    replaceWorkers: true,
    racyUpdates: false,
  });
  t.is(experiment.spec.load.pattern, 'constant-arrival-rate');
  t.is(experiment.spec.load.warmUp, '5s');
  t.is(experiment.spec.trials, 3);
  t.is(experiment.spec.variants[0]?.replicas, 1);
  t.deepEqual(
    experiment.spec.tracing,
    { enabled: true, sampleRatio: 0.1 },
    'an absent tracing block is defaulted whole',
  );
  t.deepEqual(experiment.spec.slo, { errorRate: 0.01 }, 'an absent slo gets its error-rate bound');
  t.is(experiment.spec.faults, undefined, 'optional lists stay absent');
});

test('parsing does not modify or keep the status of the input', (t) => {
  const experiment = parseExperiment(`${valid}status:\n  phase: Running\n`);
  t.is(experiment.status, undefined);
});

test('five different mistakes give exactly five lines naming file, line, field, value and what is allowed', (t) => {
  const text = `apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata:
  name: five-mistakes
spec:
  workload:
    profile: cpu
    colour: blue
  resources:
    cpu: 1 core
    memory: 512Mi
  variants:
    - name: processes
      model: process
      workers: four
    - name: processes
      model: thread
      workers: 4
  load:
    rate: 120
  trials: 0
`;
  t.deepEqual(lines(text, 'bad.yaml'), [
    'bad.yaml:8: spec.workload.colour: is not a field of spec.workload; allowed: runtime, profile, cpuTime, ioWait, responseBytes, replaceWorkers, racyUpdates, image',
    'bad.yaml:10: spec.resources.cpu: "1 core" is not a Kubernetes quantity; allowed: a Kubernetes quantity as a string: a number with an optional suffix m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei, such as "500m", "2" or "512Mi"',
    'bad.yaml:15: spec.variants[0].workers: "four" is a string; allowed: an integer from 1 to 256',
    'bad.yaml:16: spec.variants[1].name: "processes" is also the name of spec.variants[0]; allowed: a name no other variant has (variant names must be unique)',
    'bad.yaml:21: spec.trials: 0 is out of range; allowed: an integer from 1 to 50',
  ]);
});

const problemTable: Array<[string, string, string]> = [
  ['workers out of range', 'workers: 4\n  load:', 'workers: 0\n  load:'],
  ['an unknown model', 'model: thread', 'model: fork'],
  ['a number where a quantity string belongs', 'cpu: "1"', 'cpu: 1'],
  ['a duration without unit', 'duration: 10s', 'duration: "10"'],
  ['a missing required field', '    memory: 512Mi\n', ''],
  ['a variant name that is not a DNS label', 'name: threads', 'name: Threads_1'],
  ['too few variants', '    - name: threads\n      model: thread\n      workers: 4\n', ''],
];
const expectedProblems = [
  'x.yaml:17: spec.variants[1].workers: 0 is out of range; allowed: an integer from 1 to 256',
  'x.yaml:16: spec.variants[1].model: "fork" is not allowed; allowed: one of "process", "thread", "offload"',
  'x.yaml:9: spec.resources.cpu: 1 is an integer, not a string (write it quoted: "1"); allowed: a Kubernetes quantity as a string: a number with an optional suffix m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei, such as "500m", "2" or "512Mi"',
  'x.yaml:20: spec.load.duration: "10" is not a duration; allowed: a duration: a number followed by ms, s, m or h, such as "500ms", "30s" or "2m"',
  'x.yaml:8: spec.resources.memory: is missing; allowed: a Kubernetes quantity as a string: a number with an optional suffix m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei, such as "500m", "2" or "512Mi"',
  'x.yaml:15: spec.variants[1].name: "Threads_1" is not in the required form; allowed: a DNS label of at most 40 characters: lower-case letters, digits and "-", starting and ending with a letter or digit',
  'x.yaml:11: spec.variants: has 1 items; allowed: a list of 2 to 8 items',
];
problemTable.forEach(([name, from, to], index) => {
  test(`one problem, one line: ${name}`, (t) => {
    t.true(valid.includes(from), `fixture contains ${JSON.stringify(from)}`);
    t.deepEqual(lines(valid.replace(from, to)), [expectedProblems[index]]);
  });
});

test('a multi-document file is checked document by document and names the document', (t) => {
  const second = valid.replace('name: demo', 'name: second').replace('rate: 120', 'rate: 0');
  const third = valid.replace('name: demo', 'name: third').replace('kind: ConcurrencyExperiment', 'kind: Deployment');
  const result = checkManifest(`${valid}---\n${second}---\n${third}---\n`, 'multi.yaml');
  t.deepEqual(result.problems.map(formatProblem), [
    'multi.yaml#2:40: spec.load.rate: 0 is out of range; allowed: an integer from 1 to 1000000',
    'multi.yaml#3:44: kind: "Deployment" is not supported; allowed: "ConcurrencyExperiment"',
  ]);
  t.deepEqual(
    result.experiments.map((e) => e.metadata.name),
    ['demo'],
  );
});

test('a multi-document file of valid experiments yields all of them, in order', (t) => {
  const experiments = parseExperiments(`${valid}---\n${valid.replace('name: demo', 'name: again')}`);
  t.deepEqual(
    experiments.map((e) => e.metadata.name),
    ['demo', 'again'],
  );
});

test('a YAML syntax error is one line with its line number', (t) => {
  t.deepEqual(lines('apiVersion: conclab.dev/v1alpha1\nkind: [unclosed\n'), [
    'x.yaml:3: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
});

test('a duplicate key is not an error, as with kubectl: the later value wins and a warning says so', (t) => {
  const result = checkManifest(valid.replace('rate: 120', 'rate: 120\n    rate: 130'), 'x.yaml');
  t.deepEqual(result.problems, []);
  t.is(result.experiments[0]?.spec.load.rate, 130);
  t.deepEqual(result.warnings.map(formatProblem), [
    'x.yaml:20: warning: duplicate key "rate": the later value is used, as kubectl does',
  ]);
});

test('an empty file says what it should hold', (t) => {
  t.deepEqual(lines('# nothing\n'), [
    'x.yaml: holds no YAML document; allowed: a ConcurrencyExperiment manifest (apiVersion: conclab.dev/v1alpha1, kind: ConcurrencyExperiment)',
  ]);
});

test('wrong apiVersion, unknown top-level fields and a bad name are each reported', (t) => {
  t.deepEqual(lines(valid.replace('v1alpha1', 'v1')), [
    'x.yaml:1: apiVersion: "conclab.dev/v1" is not supported; allowed: "conclab.dev/v1alpha1"',
  ]);
  t.deepEqual(lines(`${valid}extra: 1\n`), [
    'x.yaml:21: extra: is not a field of a ConcurrencyExperiment; allowed: apiVersion, kind, metadata, spec, status',
  ]);
  t.deepEqual(lines(valid.replace('name: demo', 'name: Demo!')), [
    'x.yaml:4: metadata.name: "Demo!" is not a valid name; allowed: a DNS-1123 name of at most 253 characters: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit',
  ]);
});

test('a cross-field rule is reported with the schema problems of the same document', (t) => {
  const text = valid.replace('    rate: 120\n', '').replace('workers: 4\n  load', 'workers: 0\n  load');
  t.deepEqual(lines(text), [
    'x.yaml:17: spec.variants[1].workers: 0 is out of range; allowed: an integer from 1 to 256',
    'x.yaml:18: spec.load.rate: is missing; allowed: an arrival rate in requests per second, required when pattern is constant-arrival-rate',
  ]);
});

test('parseExperiment throws a ManifestError listing every problem', (t) => {
  const error = t.throws(
    () => parseExperiment(valid.replace('rate: 120', 'rate: -1').replace('cpu: "1"', 'cpu: "99"'), 'e.yaml'),
    {
      instanceOf: ManifestError,
    },
  );
  t.is(error.problems.length, 2);
  t.is(
    error.message,
    [
      'invalid ConcurrencyExperiment manifest (2 problems):',
      'e.yaml:9: spec.resources.cpu: "99" is too large; allowed: a quantity from 10m to 64 cores',
      'e.yaml:19: spec.load.rate: -1 is out of range; allowed: an integer from 1 to 1000000',
    ].join('\n'),
  );
});

test('parseExperiment refuses a file with two experiments', (t) => {
  const error = t.throws(() => parseExperiment(`${valid}---\n${valid}`), { instanceOf: ManifestError });
  t.regex(error.message, /holds 2 experiments; allowed: exactly one/);
});

test('loadExperiments reads a file and names it in problems', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conclab-api-validate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, valid);
  writeFileSync(bad, valid.replace('workers: 4', 'workers: 0'));
  t.is((await loadExperiments(good))[0]?.spec.variants.length, 2);
  const error = await t.throwsAsync(loadExperiments(bad), { instanceOf: ManifestError });
  t.true(error.message.includes(`${bad}:14: spec.variants[0].workers: 0 is out of range`), error.message);
});

test('wrong shapes are named without dumping the value: missing metadata, a list for spec, a mapping for an integer', (t) => {
  const noMetadata = valid.replace('metadata:\n  name: demo\n', '');
  t.deepEqual(lines(noMetadata), ['x.yaml:1: metadata: is missing; allowed: a mapping with at least name']);
  const listSpec = `${valid.slice(0, valid.indexOf('spec:'))}spec: []\n`;
  t.deepEqual(lines(listSpec), [
    `x.yaml:5: spec: is a list of 0 items; allowed: a mapping with the fields ${Object.keys(ConcurrencyExperimentSpec.properties).join(', ')}`,
  ]);
  t.deepEqual(lines(valid.replace('workers: 4\n  load', 'workers: {n: 4}\n  load')), [
    'x.yaml:17: spec.variants[1].workers: is a mapping; allowed: an integer from 1 to 256',
  ]);
  t.deepEqual(lines('- a\n- b\n'), [
    'x.yaml:1: is a list of 2 items; allowed: a ConcurrencyExperiment manifest (a mapping)',
  ]);
});

for (const c of manifestCases) {
  test(`whole manifest, the CLI's verdict: ${c.name}`, (t) => {
    const text = typeof c.text === 'function' ? c.text() : c.text;
    const { problems, experiments } = checkManifest(text, 'm.yaml');
    if (c.valid) {
      t.deepEqual(problems.map(formatProblem), []);
      if (c.expect !== undefined)
        t.deepEqual(c.expect(experiments[0]?.spec as unknown as Record<string, unknown>), c.equals);
    } else {
      t.deepEqual(
        problems.map((p) => p.path),
        c.paths,
        problems.map(formatProblem).join('\n').slice(0, 1000),
      );
    }
  });
}

test('hostile values are named with the field, the value and the range', (t) => {
  const text = manifest({ load: '    rate: 120\n    duration: 0s\n    timeout: 0s\n' });
  t.deepEqual(lines(text), [
    'x.yaml:21: spec.load.duration: "0s" is too short; allowed: a duration from 1s to 24h',
    'x.yaml:22: spec.load.timeout: "0s" is too short; allowed: a duration from 1ms to 10m',
  ]);
  t.deepEqual(lines(manifest({ resources: '    cpu: "1e1000"\n    memory: 512Mi\n' })), [
    'x.yaml:10: spec.resources.cpu: "1e1000" is too large; allowed: a quantity from 10m to 64 cores',
  ]);
});

test('a label written yes is a boolean to kubectl, and the fix is to quote it', (t) => {
  t.deepEqual(lines(manifest({ meta: '  labels:\n    canary: yes\n' })), [
    'x.yaml:6: metadata.labels.canary: true is a boolean (write it quoted: "true"); allowed: a string of at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit, or empty',
  ]);
});

test('a manifest over 1.5 MiB is one problem of the whole file, read no further', (t) => {
  const text = `# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n${valid}`;
  t.deepEqual(lines(text), [
    `x.yaml: is ${MAX_MANIFEST_BYTES + 3 + valid.length} bytes, too large to be an experiment; allowed: a manifest of at most 1.5 MiB (1572864 bytes), the most etcd stores for one object`,
  ]);
});

test('readManifest stops reading at the size limit and reports the file size', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conclab-api-read-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const big = join(dir, 'big.yaml');
  writeFileSync(big, Buffer.alloc(5 * 1024 * 1024, 0x20));
  const read = await readManifest(big);
  t.true('tooLarge' in read);
  if ('tooLarge' in read) t.regex(read.tooLarge.message, /^is 5242880 bytes, too large/);
  await t.throwsAsync(loadExperiments(big), { instanceOf: ManifestError, message: /5242880 bytes/ });
});

test('a name of 64 characters is refused with the bound the CRD sets', (t) => {
  t.deepEqual(lines(valid.replace('name: demo', `name: ${'a'.repeat(64)}`)), [
    `x.yaml:4: metadata.name: ${JSON.stringify('a'.repeat(64)).slice(0, 57)}... has 64 characters; allowed: at most 63 (the CRD's bound: the name becomes a label value of every pod)`,
  ]);
});

test('annotations that client-side kubectl apply would push over 256 KiB get a warning, not a problem', (t) => {
  const text = manifest({ meta: `  annotations:\n    big: "${'x'.repeat(130 * 1024)}"\n` });
  const { problems, warnings } = checkManifest(text, 'x.yaml');
  t.deepEqual(problems, []);
  t.is(warnings.length, 1);
  t.regex(
    formatProblem(warnings[0]!),
    /^x\.yaml:5: metadata\.annotations: warning: client-side `kubectl apply` would refuse this/,
  );
  t.deepEqual(checkManifest(manifest({ meta: '  annotations:\n    small: "x"\n' }), 'x.yaml').warnings, []);
});

test('nesting kubectl reads but this reader does not is refused, as the API server refuses it for an experiment', (t) => {
  // kubectl reads flow collections down to 10000 levels; no field of an experiment takes such
  // data (apiserver.test.ts: the server refuses it as an unknown field), so both refuse it.
  const deep = `${'['.repeat(2000)}${']'.repeat(2000)}`;
  const problems = lines(valid.replace('    duration: 10s\n', `    duration: 10s\n    extra: ${deep}\n`));
  t.is(problems.length, 1);
  t.regex(problems[0] ?? '', /^x\.yaml:\d+: YAML cannot be read: nested deeper than this reader follows/);
});
