// What a kubectl user sees of the CRD on a real API server: precise rejections (schema and
// CEL rules), `kubectl explain` documentation and the printer columns of `kubectl get cx`.
import test from 'ava';
import { stringify } from 'yaml';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
import { experiment, installCrd, waitFor } from './helpers.ts';

let cp: ControlPlane | undefined;
test.before(async (t) => {
  // Bounded by its own waits (start 90 s, CRD established and served 60 s each), which outlast
  // ava's 2 min without a result on a loaded machine.
  t.timeout(4 * 60_000, 'control plane start');
  cp = await startControlPlane();
  await installCrd(cp);
});
test.after.always(async () => {
  await cp?.stop();
});
function plane(): ControlPlane {
  if (!cp) throw new Error('control plane did not start (see the test.before failure)');
  return cp;
}

function withSpec(spec: Record<string, unknown>): string {
  const e = experiment('bad', 'default');
  return stringify({ ...e, spec: { ...e.spec, ...spec } });
}

const rejections: [string, Record<string, unknown>, RegExp][] = [
  [
    'zero workers',
    {
      variants: [
        { name: 'a', model: 'process', workers: 0 },
        { name: 'b', model: 'thread', workers: 2 },
      ],
    },
    /spec\.variants\[0\]\.workers: Invalid value: 0: spec\.variants\[0\]\.workers in body should be greater than or equal to 1/,
  ],
  [
    'an unknown model',
    {
      variants: [
        { name: 'a', model: 'fiber', workers: 1 },
        { name: 'b', model: 'thread', workers: 2 },
      ],
    },
    /spec\.variants\[0\]\.model: Unsupported value: "fiber": supported values: "process", "thread", "offload"/,
  ],
  [
    'a single variant',
    { variants: [{ name: 'a', model: 'process', workers: 1 }] },
    /spec\.variants: Invalid value: 1: spec\.variants in body should have at least 2 items/,
  ],
  ['a memory limit that is not a quantity', { resources: { cpu: '1', memory: 'lots' } }, /spec\.resources\.memory/],
  [
    'two variants with the same name (a CEL rule)',
    {
      variants: [
        { name: 'a', model: 'process', workers: 1 },
        { name: 'a', model: 'thread', workers: 2 },
      ],
    },
    /spec\.variants: Invalid value: .*unique/i,
  ],
];

for (const [what, spec, message] of rejections) {
  test(`the API server rejects ${what}, naming the field`, async (t) => {
    const r = await plane().kubectl(['apply', '--dry-run=server', '-f', '-'], { input: withSpec(spec) });
    t.not(r.code, 0);
    t.regex(r.stderr, message);
  });
}

test('kubectl explain documents the spec fields', async (t) => {
  // The API server publishes a new CRD's OpenAPI (what explain reads) a moment after Established.
  const r = await waitFor(
    'explain to know cx',
    async () => {
      const out = await plane().kubectl(['explain', 'cx.spec']);
      return out.code === 0 ? out : undefined;
    },
    60_000,
  );
  for (const field of ['workload', 'resources', 'variants', 'load', 'trials'])
    t.regex(r.stdout, new RegExp(`\\b${field}\\b`));
  const res = await plane().kubectl(['explain', 'cx.spec.resources.cpu']);
  t.regex(res.stdout, /requests = limits/);
});

test('kubectl get cx shows phase, winner, differences and blast radius columns', async (t) => {
  const r = await plane().kubectl(['get', 'cx', '-A']);
  t.is(r.code, 0, r.stderr);
  const crd = await plane().kubectl([
    'get',
    'crd',
    'concurrencyexperiments.conclab.dev',
    '-o',
    'jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}',
  ]);
  t.is(crd.stdout, 'Phase Winner Throughput P99 Blast-Radius Capacity Sizing Age');
});
