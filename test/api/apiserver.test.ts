// The generated CRD against a real kube-apiserver (test/cluster: etcd + kube-apiserver on
// 127.0.0.1, no kubelet), through the real kubectl. This is the proof behind "conclab validate
// reaches the API server's verdict": the server must accept the CRD (structural schema, CEL
// that compiles within the cost budget), accept every example, reject exactly the rule cases
// that the TypeScript checks reject, at the same fields, and judge every whole manifest of
// manifest-cases.ts (sent as YAML text, so kubectl's own YAML reading applies) as the CLI does,
// reading the same values from it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { CRD_FILE, ROOT } from '../../operator/api/generate.ts';
import { CEL_RULES, CROSS_FIELD_RULE_IDS } from '../../operator/api/rules.ts';
import { checkManifest, formatProblem } from '../../operator/api/validate.ts';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
import { manifest, manifestCases } from './manifest-cases.ts';
import { base, cases, type Spec } from './rule-cases.ts';

let plane: ControlPlane | undefined;

test.before(async () => {
  plane = await startControlPlane();
  const applied = await plane.kubectl(['apply', '-f', join(ROOT, CRD_FILE)]);
  if (applied.code !== 0) throw new Error(`CRD rejected: ${applied.stderr}`);
  // `kubectl wait` errors out while the CRD has no conditions yet, so poll, bounded in time.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await plane.kubectl([
      'get',
      'crd/concurrencyexperiments.conclab.dev',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Established")].status}',
    ]);
    if (status.stdout.trim() === 'True') break;
    if (Date.now() > deadline) throw new Error(`CRD not established within 60 s: ${status.stdout} ${status.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
});

test.after.always(async () => {
  await plane?.stop();
});

/** Server-side dry-run create: validated and defaulted exactly as a real create, nothing stored. */
async function dryRun(manifest: string) {
  if (plane === undefined) throw new Error('no control plane');
  return plane.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: manifest });
}

function manifestOf(spec: unknown, name: string): string {
  return JSON.stringify({
    apiVersion: 'conclab.dev/v1alpha1',
    kind: 'ConcurrencyExperiment',
    metadata: { name },
    spec,
  });
}

/** Fields the API server (through kubectl) blamed, such as `spec.load.duration`. */
function serverPaths(stderr: string): string[] {
  const out = new Set<string>();
  for (const match of stderr.matchAll(
    /(?:^|\* |is invalid: )((?:spec|metadata|items)(?:\.[A-Za-z0-9_-]+|\[\d+\])*): /gm,
  ))
    out.add(match[1]!);
  for (const match of stderr.matchAll(/unknown field "([^"]+)"/g)) out.add(match[1]!);
  // A wrong type in metadata: "cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels".
  for (const match of stderr.matchAll(/Go struct field \w+\.([\w.]+) of type/g)) out.add(match[1]!);
  return [...out];
}

/** Whether `outer` is `inner` or a field that contains it. */
const within = (inner: string, outer: string) =>
  inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);

/**
 * The server and the CLI blame the same fields: every field the server names holds one the CLI
 * names (the CLI may be more precise: spec.slo.latency.p99 where the rule sits on
 * spec.slo.latency), and the other way round, unless the server stopped before its CEL rules.
 * The CLI names a List's item (items[1].spec...), the server the field within the item.
 */
function sameFields(t: import('ava').ExecutionContext, stderr: string, paths: string[]): void {
  const server = serverPaths(stderr);
  // The server judges each item of a List as its own object.
  const cliPaths = paths.map((path) => path.replace(/^items\[\d+\]\./, ''));
  for (const path of server)
    t.true(
      cliPaths.some((cli) => within(cli, path)),
      `the CLI also blames ${path}: ${cliPaths.join(', ')}`,
    );
  if (!stderr.includes('some validation rules were not checked'))
    for (const path of cliPaths)
      t.true(
        server.some((s) => within(path, s)),
        `the server also blames ${path}: ${stderr}`,
      );
}

test.serial('the API server accepts every example, as conclab validate does', async (t) => {
  const examples = readdirSync(join(ROOT, 'examples')).filter((name) => name.endsWith('.yaml'));
  for (const name of examples) {
    const text = readFileSync(join(ROOT, 'examples', name), 'utf8');
    t.deepEqual(checkManifest(text, name).problems, [], name);
    const result = await dryRun(text);
    t.is(result.code, 0, `${name}: ${result.stderr}`);
  }
});

test.serial('the API server applies the same defaults as the CLI', async (t) => {
  const spec = base();
  const text = manifestOf(spec, 'defaults');
  const result = await dryRun(text);
  t.is(result.code, 0, result.stderr);
  const server = JSON.parse(result.stdout).spec;
  const [local] = checkManifest(text, 'defaults.json').experiments;
  t.deepEqual(server, JSON.parse(JSON.stringify(local?.spec)));
});

cases.forEach((c, index) => {
  test.serial(`API server and CLI agree: ${c.name}`, async (t) => {
    const spec = base() as Spec;
    c.edit(spec);
    const text = manifestOf(spec, `case-${index}`);
    const result = await dryRun(text);
    const cli = checkManifest(text, 'case.json').problems;
    if (c.fails.length === 0) {
      t.is(result.code, 0, result.stderr);
      t.deepEqual(cli.map(formatProblem), []);
      return;
    }
    t.not(result.code, 0, 'the API server rejects it');
    t.false(result.stderr.includes('evaluating rule'), `no CEL rule errs: ${result.stderr}`);
    for (const id of c.fails) {
      const rule = CEL_RULES.find((r) => r.id === id);
      t.truthy(rule, id);
      // A bound's message names the value (messageExpression); the others are fixed.
      const expected = CROSS_FIELD_RULE_IDS.has(id)
        ? rule?.message
        : rule?.message.replace(/^must be an? \w+ from /, '; allowed: ');
      t.true(result.stderr.includes(expected ?? '?'), `server message for ${id}: ${result.stderr}`);
    }
    t.is(cli.length, c.fails.length, `the CLI reports one line per broken rule: ${cli.map(formatProblem).join(' | ')}`);
    sameFields(
      t,
      result.stderr,
      cli.map((p) => p.path),
    );
  });
});

manifestCases.forEach((c) => {
  test.serial(`kubectl, the API server and the CLI agree on a whole manifest: ${c.name}`, async (t) => {
    const text = typeof c.text === 'function' ? c.text() : c.text;
    const cli = checkManifest(text, 'manifest.yaml');
    // A real create, not a dry run: only a real one meets etcd's size limit.
    const result = await plane!.kubectl(['create', '-o', 'json', '-f', '-'], { input: text, timeoutMillis: 120_000 });
    t.teardown(async () => {
      await plane?.kubectl(['delete', 'cx', '--all', '--wait=false']);
    });
    if (c.valid) {
      t.is(result.code, 0, `the API server accepts it: ${result.stderr}`);
      t.deepEqual(cli.problems.map(formatProblem), [], 'the CLI accepts it');
      if (c.expect !== undefined) {
        const stored = result.stdout
          .trim()
          .split(/\n(?=\{)/)
          .map((o) => JSON.parse(o));
        const server = (stored[0].items?.[0] ?? stored[0]).spec;
        t.deepEqual(c.expect(server), c.equals, 'the server read it so');
        t.deepEqual(
          c.expect(cli.experiments[0]!.spec as unknown as Record<string, unknown>),
          c.equals,
          'the CLI read it so',
        );
      }
      return;
    }
    t.not(result.code, 0, `the API server refuses it: ${result.stdout.slice(0, 200)}`);
    t.false(result.stderr.includes('evaluating rule'), `no CEL rule errs: ${result.stderr.slice(0, 400)}`);
    t.not(cli.problems.length, 0, 'the CLI refuses it');
    t.deepEqual(
      cli.problems.map((p) => p.path),
      c.paths,
      cli.problems.map(formatProblem).join('\n').slice(0, 2000),
    );
    // Problems of the whole file (syntax, size) have no field to compare.
    if (!c.paths?.includes(''))
      sameFields(
        t,
        result.stderr,
        cli.problems.map((p) => p.path),
      );
  });
});

test.serial(
  'annotations the CLI warns about: client-side kubectl apply refuses them, create and server-side apply take them',
  async (t) => {
    for (const [kib, warned] of [
      [100, false],
      [130, true],
    ] as const) {
      const text = manifest({ meta: `  annotations:\n    big: "${'x'.repeat(kib * 1024)}"\n` });
      const cli = checkManifest(text, 'a.yaml');
      t.deepEqual(cli.problems, []);
      t.is(cli.warnings.length > 0, warned, `${kib} KiB: warned`);
      const apply = await plane!.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: text });
      t.is(apply.code !== 0, warned, `${kib} KiB: client-side apply ${apply.stderr}`);
      const serverSide = await plane!.kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], {
        input: text,
      });
      t.is(serverSide.code, 0, serverSide.stderr);
    }
  },
);

test.serial('kubectl explain shows the schema descriptions', async (t) => {
  const result = await plane!.kubectl(['explain', 'cx.spec.load.rate']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout.replace(/\s+/g, ' '), /Arrival rate in requests per second/);
});

test.serial('status is written through the status subresource and shown in the printer columns', async (t) => {
  const created = await plane!.kubectl(['create', '-f', join(ROOT, 'examples', 'quickstart.yaml')]);
  t.is(created.code, 0, created.stderr);
  t.teardown(async () => {
    await plane?.kubectl(['delete', 'cx', 'quickstart', '--ignore-not-found', '--wait=false']);
  });
  const status = {
    status: {
      phase: 'Succeeded',
      verdict: {
        winner: 'threads',
        throughputDelta: '+12%',
        p99Delta: '-30%',
        blastRadius: 'process-25%/thread-100%',
        summary: 'threads win on throughput',
      },
    },
  };
  const patched = await plane!.kubectl([
    'patch',
    'cx',
    'quickstart',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify(status),
  ]);
  t.is(patched.code, 0, patched.stderr);
  // By short name and by category, as a user would type it.
  for (const resource of ['cx', 'conclab']) {
    const listed = await plane!.kubectl(['get', resource]);
    t.is(listed.code, 0, listed.stderr);
    const [header, row] = listed.stdout.trim().split('\n');
    t.deepEqual(header?.split(/\s+/), [
      'NAME',
      'PHASE',
      'WINNER',
      'THROUGHPUT',
      'P99',
      'BLAST-RADIUS',
      'CAPACITY',
      'SIZING',
      'AGE',
    ]);
    t.deepEqual(row?.split(/\s+/).slice(0, 6), [
      'quickstart',
      'Succeeded',
      'threads',
      '+12%',
      '-30%',
      'process-25%/thread-100%',
    ]);
  }
  // A write to the main resource cannot change status: only the subresource can.
  const sneaky = await plane!.kubectl([
    'patch',
    'cx',
    'quickstart',
    '--type=merge',
    '-p',
    '{"status":{"phase":"Failed"}}',
  ]);
  t.is(sneaky.code, 0, sneaky.stderr);
  const phase = await plane!.kubectl(['get', 'cx', 'quickstart', '-o', 'jsonpath={.status.phase}']);
  t.is(phase.stdout, 'Succeeded');
});
