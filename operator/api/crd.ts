// The CustomResourceDefinition of ConcurrencyExperiment, derived from schema.ts and rules.ts.
//
// TypeBox emits JSON Schema; a CRD wants a *structural* OpenAPI v3 subset. The translation
// keeps only keywords the API server accepts and fails loudly on anything it cannot translate
// (anyOf, $ref, ...), instead of silently dropping a constraint. It also insists on a
// description for every field, because `kubectl explain cx.spec.load` is the user's manual.
import { stringify } from 'yaml';
import { CEL_RULES, type RuleScope } from './rules.ts';
import {
  API_VERSION,
  ConcurrencyExperimentSpec,
  ConcurrencyExperimentStatus,
  GROUP,
  KIND,
  MAX_EXPERIMENT_NAME,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from './schema.ts';

type JsonSchema = Record<string, unknown>;

// Output order of the keywords kept, so the YAML reads the same way at every level.
const KEPT_KEYWORDS = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'nullable',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
];
// Keywords a structural schema forbids or that would change meaning if dropped.
const REJECTED_KEYWORDS = ['anyOf', 'oneOf', 'allOf', 'not', '$ref', 'patternProperties', 'uniqueItems', 'const'];

/**
 * A structural OpenAPI v3 schema from a TypeBox schema. `path` names the field in errors.
 * Fields with a default are left out of `required`: the API server applies the default first.
 */
export function toStructural(schema: JsonSchema, path: string): JsonSchema {
  for (const keyword of REJECTED_KEYWORDS) {
    if (keyword in schema) throw new Error(`${path}: "${keyword}" cannot be expressed in a structural CRD schema`);
  }
  if (typeof schema['description'] !== 'string' || schema['description'] === '') {
    throw new Error(`${path}: has no description; every field needs one for kubectl explain`);
  }
  if (typeof schema['type'] !== 'string') throw new Error(`${path}: has no type; a structural schema needs one`);
  if ('additionalProperties' in schema && schema['additionalProperties'] !== false) {
    throw new Error(`${path}: additionalProperties other than false is not supported here`);
  }
  const out: JsonSchema = {};
  for (const keyword of KEPT_KEYWORDS) {
    if (keyword in schema) out[keyword] = structuredClone(schema[keyword]);
  }
  if (schema['type'] === 'object') {
    const properties = (schema['properties'] as Record<string, JsonSchema> | undefined) ?? {};
    out['properties'] = Object.fromEntries(
      Object.entries(properties).map(([name, child]) => [name, toStructural(child, `${path}.${name}`)]),
    );
    const required = ((schema['required'] as string[] | undefined) ?? []).filter(
      (name) => properties[name]?.['default'] === undefined,
    );
    if (required.length > 0) out['required'] = required;
  }
  if (schema['type'] === 'array') {
    const items = schema['items'] as JsonSchema | undefined;
    if (items === undefined || Array.isArray(items)) throw new Error(`${path}: a list needs one items schema`);
    out['items'] = toStructural(items, `${path}[]`);
  }
  return out;
}

/** The schema node at a rule scope such as `spec.load.stages[].duration` ("" is the root). */
function nodeAt(root: JsonSchema, scope: RuleScope): JsonSchema {
  let node = root;
  for (const part of scope === '' ? [] : scope.split('.')) {
    const name = part.endsWith('[]') ? part.slice(0, -2) : part;
    let child = (node['properties'] as Record<string, JsonSchema> | undefined)?.[name];
    if (child !== undefined && part.endsWith('[]')) child = child['items'] as JsonSchema | undefined;
    if (child === undefined) throw new Error(`rule scope ${scope}: no field ${part} in the schema`);
    node = child;
  }
  return node;
}

/** The openAPIV3Schema of the CRD: the whole object with spec, status and the CEL rules. */
export function openApiSchema(): JsonSchema {
  const root = toStructural(
    {
      type: 'object',
      description:
        'A ConcurrencyExperiment compares concurrency models (processes, threads, offload pools) of one workload under one CPU and memory budget, with open-model load and optional faults, and reports throughput, tail latency, memory and blast radius with a verdict.',
      properties: {
        apiVersion: {
          type: 'string',
          description:
            'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.',
        },
        kind: {
          type: 'string',
          description:
            'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.',
        },
        metadata: { type: 'object', description: 'Standard object metadata.' },
        spec: ConcurrencyExperimentSpec,
        status: ConcurrencyExperimentStatus,
      },
      required: ['spec'],
    },
    KIND,
  );
  // metadata is validated by the API server itself; a CRD may only bound its name (and
  // generateName): the operator's children carry the name as a label value.
  (root['properties'] as Record<string, JsonSchema>)['metadata'] = {
    type: 'object',
    properties: {
      name: {
        type: 'string',
        description: `Name of the experiment, at most ${MAX_EXPERIMENT_NAME} characters: it becomes a label value of every pod.`,
        maxLength: MAX_EXPERIMENT_NAME,
      },
    },
  };
  for (const rule of CEL_RULES) {
    const node = nodeAt(root, rule.scope);
    node['x-kubernetes-validations'] ??= [];
    (node['x-kubernetes-validations'] as JsonSchema[]).push({
      rule: rule.rule,
      message: rule.message,
      ...(rule.messageExpression === undefined ? {} : { messageExpression: rule.messageExpression }),
      ...(rule.fieldPath === undefined ? {} : { fieldPath: rule.fieldPath }),
      ...(rule.reason === undefined ? {} : { reason: rule.reason }),
    });
  }
  return root;
}

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1). */
export function customResourceDefinition(): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: ['conclab'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Where the experiment is.' },
            {
              name: 'Winner',
              type: 'string',
              jsonPath: '.status.verdict.winner',
              description: 'Variant that wins on throughput with a significant difference.',
            },
            {
              name: 'Throughput',
              type: 'string',
              jsonPath: '.status.verdict.throughputDelta',
              description: 'Throughput difference of the winner over the runner-up.',
            },
            {
              name: 'P99',
              type: 'string',
              jsonPath: '.status.verdict.p99Delta',
              description: 'p99 latency difference of the winner against the runner-up.',
            },
            {
              name: 'Blast-Radius',
              type: 'string',
              jsonPath: '.status.verdict.blastRadius',
              description: 'Capacity lost to the injected fault, per variant.',
            },
            {
              name: 'Capacity',
              type: 'string',
              jsonPath: '.status.verdict.capacity',
              description: 'max-throughput: the capacity the search found per variant.',
            },
            {
              name: 'Sizing',
              type: 'string',
              jsonPath: '.status.verdict.sizing',
              description: 'spec.target: pods per variant (range) x workers x CPU, and which needs less CPU.',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: openApiSchema() },
        },
      ],
    },
  };
}

/** The CRD as the YAML committed to crds/ and the chart; byte-for-byte stable. */
export function crdYaml(): string {
  const header = [
    `# CustomResourceDefinition of ${KIND} (${API_VERSION}).`,
    '# Generated from operator/api/schema.ts and operator/api/rules.ts by `npm run generate`; do not edit.',
  ].join('\n');
  return `${header}\n${stringify(customResourceDefinition(), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
