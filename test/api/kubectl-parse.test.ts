// parseAsKubectl against the real kubectl (the pinned build in test/cluster): every snippet is
// read by both, and both must give the same JSON, or both refuse it. `kubectl label --local
// -o json` reads a manifest exactly as `kubectl apply` does (same builder, same decoder) and
// prints what it would send, without an API server.
import { spawn } from 'node:child_process';
import test from 'ava';
import { parseAsKubectl } from '../../operator/api/kubectl-parse.ts';
import { requireClusterBinaries } from '../cluster/binaries.ts';

interface Kubectl {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectlLocal(kubectl: string, input: string): Promise<Kubectl> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, ['label', '--local', '-f', '-', '-o', 'json', 'probe=1'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', KUBECONFIG: '/dev/null' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** The JSON objects kubectl printed, one per document, without the probe label. */
function printed(stdout: string): unknown[] {
  const out: unknown[] = [];
  // kubectl prints one pretty JSON object per document, back to back.
  for (const text of stdout.split(/\n(?=\{)/)) {
    if (text.trim() === '') continue;
    const object = JSON.parse(text) as { metadata?: { labels?: Record<string, string> } };
    delete object.metadata?.labels?.['probe'];
    if (object.metadata?.labels && Object.keys(object.metadata.labels).length === 0) delete object.metadata.labels;
    out.push(object);
  }
  return out;
}

const head = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n';

// Values as a user might write them in a manifest: YAML 1.1 words and numbers, tags, quoting.
const scalars = [
  '010',
  '0o10',
  '0x1F',
  '+0x10',
  '0b11',
  '-0b11',
  '08',
  '09.5',
  '1_000',
  '_1',
  '1__0',
  '1_0.5',
  '1e3',
  '1E3',
  '1.5e-3',
  '.5',
  '+.5',
  '-.5',
  '1.',
  '.',
  '00',
  '-0',
  '+12',
  '0x_ff',
  '1e400',
  '1e-400',
  '9223372036854775807',
  '9223372036854775808',
  '18446744073709551616',
  '-9223372036854775809',
  '99999999999999999999',
  'yes',
  'Yes',
  'YES',
  'yEs',
  'no',
  'on',
  'off',
  'On',
  'y',
  'n',
  'Y',
  'N',
  'true',
  'True',
  'tRUE',
  '~',
  'null',
  'Null',
  'nULL',
  '',
  '1:30',
  '12:30:45',
  '2001-12-14',
  '2001-12-14t21:59:43.10-05:00',
  '2001-13-14',
  '0.0000001',
  '1e21',
  '"010"',
  "'yes'",
  '!!str 010',
  '!!int "10"',
  '!!float 1',
  '!!bool true',
  '!!null ~',
  '! 10',
  '!foo bar',
  '!!binary aGVsbG8=',
  '!!timestamp 2001-12-14',
  '|\n    010',
  '>\n    yes\n    no',
  'plain\n    folded',
  '30s',
  '512Mi',
  '1e1000',
  '0s',
  '5m',
];

const scalarErrors = ['.inf', '-.Inf', '.nan', '!!int abc', '!!bool 1', '!!timestamp abc', '!!float yes'];

const documents: Array<[string, string]> = [
  [
    'keys that resolve to other types become strings',
    `${head}d:\n  yes: 1\n  1: 2\n  1.5: 3\n  1e6: 4\n  0x10: 5\n  n: 6\n  .inf: 7\n  "on": 8\n`,
  ],
  ['a later duplicate key wins', `${head}d:\n  rate: 1\n  rate: 2\n`],
  ['a merge key copies a mapping in place', `${head}a: &base {b: 1, c: 2}\nd:\n  <<: *base\n  c: 3\n`],
  ['a merge after a key overrides it', `${head}d:\n  c: 3\n  <<: {c: 4, e: 5}\n`],
  ['a list of merges: earlier maps win', `${head}d:\n  <<: [{a: 1}, {a: 2, b: 2}]\n`],
  ['aliases of scalars and lists', `${head}a: &x 010\nb: *x\nc: &l [1, yes]\nd: *l\n`],
  ['two documents', `${head}d: 1\n---\n${head}d: 2\n`],
  [
    'a separator with a comment, CRLF line ends',
    `${head}d: 1\r\n--- # next\r\n${head.replaceAll('\n', '\r\n')}d: on\r\n`,
  ],
  ['documents that are only comments or null are skipped', `# only a comment\n---\n~\n---\n${head}d: 1\n`],
  ['a document end marker: what follows is ignored', `${head}d: 1\n...\nd: 2\n`],
  ['a JSON stream', `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"probe"},"d":[1,"010"]}`],
  [
    'two JSON objects',
    `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}\n{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`,
  ],
  [
    'JSON that is not JSON falls back to YAML',
    `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"probe"},"d":010}`,
  ],
  ['a key named __proto__ is data', `${head}d:\n  __proto__: 1\n`],
];

const documentErrors: Array<[string, string]> = [
  ['a separator followed by content', `${head}--- {a: 1}\n`],
  ['a null key', `${head}d:\n  ~: 1\n`],
  ['a key too large for int64', `${head}d:\n  18446744073709551615: 1\n`],
  ['a list as a key', `${head}d:\n  ? [1]\n  : 2\n`],
  ['a merge of a scalar', `${head}d:\n  <<: 1\n`],
  ['an anchor that contains itself', `${head}d: &a [*a]\n`],
  ['excessive aliasing (a billion laughs)', `${head}${laughs()}`],
  ['a syntax error', `${head}d: [unclosed\n`],
  ['flow collections nested deeper than 10000 levels', `${head}d: ${'['.repeat(10_001)}${']'.repeat(10_001)}\n`],
];

function laughs(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  return `${lines.join('\n')}\n`;
}

let kubectl = '';
test.before(() => {
  kubectl = requireClusterBinaries(['kubectl']).kubectl;
});

async function agree(t: import('ava').ExecutionContext, text: string): Promise<void> {
  const ours = parseAsKubectl(text);
  const theirs = await kubectlLocal(kubectl, text);
  t.is(theirs.code, 0, `kubectl accepts it: ${theirs.stderr}`);
  t.deepEqual(
    ours.map((doc) => doc.error),
    ours.map(() => undefined),
    'parseAsKubectl reads it',
  );
  t.deepEqual(JSON.parse(JSON.stringify(ours.map((doc) => doc.value))), printed(theirs.stdout));
}

async function bothRefuse(t: import('ava').ExecutionContext, text: string): Promise<void> {
  const ours = parseAsKubectl(text);
  const theirs = await kubectlLocal(kubectl, text);
  t.not(theirs.code, 0, 'kubectl refuses it');
  const error = ours.find((doc) => doc.error !== undefined)?.error;
  t.truthy(error, `parseAsKubectl refuses it too (got ${JSON.stringify(ours.map((d) => d.value))})`);
  // Errors that go-yaml or sigs.k8s.io/yaml word themselves are worded the same; syntax errors
  // come from different parsers and only have to agree that the text is broken.
  if (error !== undefined && !error.message.startsWith('YAML syntax error'))
    // Go prints a nil type as "%!s(<nil>)"; the message here says "<nil>".
    t.true(theirs.stderr.replaceAll('%!s(<nil>)', '<nil>').includes(error.message), `kubectl says: ${theirs.stderr}`);
}

for (const scalar of scalars) {
  test(`a value written ${JSON.stringify(scalar)} reads as kubectl reads it`, (t) =>
    agree(t, `${head}d:\n  v: ${scalar}\n  l: [${scalar.includes('\n') ? '1' : scalar}]\n`));
}
for (const scalar of scalarErrors) {
  test(`a value written ${JSON.stringify(scalar)} is refused, as kubectl refuses it`, (t) =>
    bothRefuse(t, `${head}d:\n  v: ${scalar}\n`));
}
for (const [name, text] of documents) {
  test(`as kubectl: ${name}`, (t) => agree(t, text));
}
for (const [name, text] of documentErrors) {
  test(`refused, as by kubectl: ${name}`, (t) => bothRefuse(t, text));
}

test('line numbers point at the key in the whole file, across documents and CRLF', (t) => {
  const docs = parseAsKubectl(`${head}d: 1\r\n---\r\n${head}d:\r\n  yes: 2\r\n`);
  t.is(docs.length, 2);
  t.is(docs[1]?.lineOf(['d', 'true']), 12);
  t.is(docs[1]?.lineOf(['d', 'missing']), 11, 'a missing field is placed at its parent');
});

test('a duplicate key is a warning with its line, not an error', (t) => {
  const [doc] = parseAsKubectl(`${head}d:\n  rate: 1\n  rate: 2\n`);
  t.deepEqual(doc?.warnings, [{ message: 'duplicate key "rate": the later value is used, as kubectl does', line: 7 }]);
  t.deepEqual(doc?.value, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe' }, d: { rate: 2 } });
});
