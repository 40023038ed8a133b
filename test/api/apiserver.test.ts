// The generated CRD against a real kube-apiserver (test/cluster: etcd + kube-apiserver on
// 127.0.0.1, no kubelet). This is the proof behind "conclab validate applies the rules the API
// server applies": the server must accept the CRD (structural schema, CEL that compiles within
// the cost budget), accept every example, and reject exactly the rule cases that the
// TypeScript checks reject, with the same message.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { CRD_FILE, ROOT } from '../../operator/api/generate.ts';
import { CEL_RULES } from '../../operator/api/rules.ts';
import { checkManifest } from '../../operator/api/validate.ts';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
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
      t.deepEqual(cli, []);
      return;
    }
    t.not(result.code, 0, 'the API server rejects it');
    for (const id of c.fails) {
      const rule = CEL_RULES.find((r) => r.id === id);
      t.truthy(rule, id);
      t.true(result.stderr.includes(rule?.message ?? '?'), `server message for ${id}: ${result.stderr}`);
    }
    t.is(cli.length, c.fails.length, 'the CLI reports one line per broken rule');
  });
});

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
    t.deepEqual(header?.split(/\s+/), ['NAME', 'PHASE', 'WINNER', 'THROUGHPUT', 'P99', 'BLAST-RADIUS', 'AGE']);
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
