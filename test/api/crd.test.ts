import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { customResourceDefinition, toStructural } from '../../operator/api/crd.ts';
import { CHART_CRD_FILE, CRD_FILE, generatedFiles, ROOT, staleFiles } from '../../operator/api/generate.ts';
import { REFERENCE_END, REFERENCE_START } from '../../operator/api/reference.ts';
import { CEL_RULES, CROSS_FIELD_RULE_IDS } from '../../operator/api/rules.ts';
import { ConcurrencyExperimentSpec, ConcurrencyExperimentStatus } from '../../operator/api/schema.ts';

type JsonSchema = Record<string, unknown>;

/** Every field below `schema` as [path, schema], depth first. */
function walk(schema: JsonSchema, path: string, out: Array<[string, JsonSchema]> = []): Array<[string, JsonSchema]> {
  out.push([path, schema]);
  if (schema['type'] === 'array') walk(schema['items'] as JsonSchema, `${path}[]`, out);
  for (const [name, child] of Object.entries((schema['properties'] as Record<string, JsonSchema>) ?? {}))
    walk(child, `${path}.${name}`, out);
  return out;
}

const crd = customResourceDefinition() as {
  spec: { versions: Array<{ schema: { openAPIV3Schema: JsonSchema }; additionalPrinterColumns: JsonSchema[] }> };
};
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema;

test('the committed CRD, its chart copy and the README reference are what the schema generates', async (t) => {
  t.deepEqual(await staleFiles(), [], 'run `npm run generate` and commit the result');
  const files = await generatedFiles();
  t.is(readFileSync(join(ROOT, CRD_FILE), 'utf8'), files.get(CRD_FILE) ?? '(not generated)');
  t.is(readFileSync(join(ROOT, CHART_CRD_FILE), 'utf8'), files.get(CRD_FILE) ?? '(not generated)');
});

test('every field of the schema has a description', (t) => {
  const fields = [
    ...walk(ConcurrencyExperimentSpec as unknown as JsonSchema, 'spec'),
    ...walk(ConcurrencyExperimentStatus as unknown as JsonSchema, 'status'),
  ];
  t.true(fields.length > 60, `walked ${fields.length} fields`);
  const missing = fields.filter(
    ([, schema]) => typeof schema['description'] !== 'string' || schema['description'] === '',
  );
  t.deepEqual(
    missing.map(([path]) => path),
    [],
  );
});

test('every field of the CRD schema but metadata has a description and a type (structural)', (t) => {
  const fields = walk(root, '').filter(([path]) => path !== '.metadata');
  for (const [path, schema] of fields) {
    t.is(typeof schema['type'], 'string', `${path} has a type`);
    t.is(typeof schema['description'], 'string', `${path} has a description`);
    for (const keyword of ['anyOf', 'oneOf', 'allOf', 'not', '$ref', 'additionalProperties', 'uniqueItems']) {
      t.false(keyword in schema, `${path} has no ${keyword}`);
    }
  }
});

test('the committed CRD parses as a v1 CRD with status subresource, short name and printer columns', (t) => {
  const committed = parse(readFileSync(join(ROOT, CRD_FILE), 'utf8'));
  t.is(committed.apiVersion, 'apiextensions.k8s.io/v1');
  t.is(committed.metadata.name, 'concurrencyexperiments.conclab.dev');
  t.deepEqual(committed.spec.names.shortNames, ['cx']);
  t.deepEqual(committed.spec.versions[0].subresources, { status: {} });
  t.deepEqual(
    committed.spec.versions[0].additionalPrinterColumns.map((c: JsonSchema) => `${c['name']}=${c['jsonPath']}`),
    [
      'Phase=.status.phase',
      'Winner=.status.verdict.winner',
      'Throughput=.status.verdict.throughputDelta',
      'P99=.status.verdict.p99Delta',
      'Blast-Radius=.status.verdict.blastRadius',
      'Capacity=.status.verdict.capacity',
      'Sizing=.status.verdict.sizing',
      'Age=.metadata.creationTimestamp',
    ],
  );
});

test('defaults, enums, patterns and bounds survive the translation', (t) => {
  const spec = (root['properties'] as Record<string, JsonSchema>)['spec']!;
  const props = (s: JsonSchema) => s['properties'] as Record<string, JsonSchema>;
  const workload = props(spec)['workload']!;
  t.is(props(workload)['runtime']!['default'], 'node');
  t.deepEqual(props(workload)['profile']!['enum'], ['cpu', 'io', 'mixed', 'shared-state']);
  const workers = props(props(spec)['variants']!['items'] as JsonSchema)['workers']!;
  t.is(workers['minimum'], 1);
  t.is(workers['maximum'], 256);
  t.is(typeof props(props(spec)['resources']!)['cpu']!['pattern'], 'string');
  t.is(props(spec)['variants']!['maxItems'], 8);
});

test('fields with a default are not listed as required (the API server defaults them first)', (t) => {
  const spec = (root['properties'] as Record<string, JsonSchema>)['spec']!;
  t.deepEqual(spec['required'], ['workload', 'resources', 'variants', 'load']);
});

test('every CEL rule sits on the node it names, with its message', (t) => {
  let count = 0;
  for (const [, schema] of walk(root, '')) {
    count += ((schema['x-kubernetes-validations'] as unknown[]) ?? []).length;
  }
  t.is(count, CEL_RULES.length);
  const variants = (
    (root['properties'] as Record<string, JsonSchema>)['spec']!['properties'] as Record<string, JsonSchema>
  )['variants']!;
  t.deepEqual(variants['x-kubernetes-validations'], [
    {
      rule: 'self.all(v, self.exists_one(w, w.name == v.name))',
      message: 'variant names must be unique',
    },
  ]);
});

test('the translation refuses what a structural schema cannot hold, naming the field', (t) => {
  t.throws(() => toStructural({ type: 'string' }, 'spec.x'), {
    message: 'spec.x: has no description; every field needs one for kubectl explain',
  });
  t.throws(() => toStructural({ description: 'd', anyOf: [] }, 'spec.y'), {
    message: /spec\.y: "anyOf" cannot be expressed/,
  });
  t.throws(() => toStructural({ type: 'object', description: 'd', properties: { z: { type: 'integer' } } }, 'spec'), {
    message: /^spec\.z: has no description/,
  });
});

test('the README holds the generated reference between its markers', (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const reference = readme.slice(readme.indexOf(REFERENCE_START), readme.indexOf(REFERENCE_END));
  t.true(reference.includes('| `spec.variants[].workers` | integer | yes |  | 1 to 256 |'));
  t.true(reference.includes('| `spec.load.duration` | duration |  | `"30s"` | `1s` to `24h` |'));
  t.true(reference.includes('| `spec.resources.cpu` | quantity | yes |  | `10m` to `64` cores |'));
  for (const rule of CEL_RULES)
    if (CROSS_FIELD_RULE_IDS.has(rule.id)) t.true(reference.includes(rule.message), rule.id);
});

test('every bound is a CEL rule on its own field, naming the value in its message', (t) => {
  const spec = (root['properties'] as Record<string, JsonSchema>)['spec']!;
  const props = (s: JsonSchema) => s['properties'] as Record<string, JsonSchema>;
  const stage = props(props(spec)['load']!)['stages']!['items'] as JsonSchema;
  const [rule] = props(stage)['duration']!['x-kubernetes-validations'] as JsonSchema[];
  t.regex(String(rule?.['rule']), /duration\(self\) >= duration\('1s'\) && duration\(self\) <= duration\('24h'\)/);
  t.regex(String(rule?.['messageExpression']), /^self \+ /);
  const [cpu] = props(props(spec)['resources']!)['cpu']!['x-kubernetes-validations'] as JsonSchema[];
  t.regex(String(cpu?.['rule']), /quantity\(self\)\.compareTo\(quantity\('64'\)\) <= 0/);
  t.false(JSON.stringify(root).includes('x-conclab-'), 'the bounds keywords stay out of the CRD');
});

test('metadata.name is bounded to 63 characters, the only metadata a CRD may bound', (t) => {
  const metadata = (root['properties'] as Record<string, JsonSchema>)['metadata']!;
  t.deepEqual(Object.keys(metadata['properties'] as JsonSchema), ['name']);
  t.is(((metadata['properties'] as Record<string, JsonSchema>)['name'] as JsonSchema)['maxLength'], 63);
});
