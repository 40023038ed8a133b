// The manifest reference in README.md, derived from schema.ts and rules.ts, so the
// documentation cannot drift from what the validator and the API server accept.
import { CEL_RULES, CLI_RULES, CROSS_FIELD_RULE_IDS } from './rules.ts';
import {
  API_VERSION,
  ConcurrencyExperimentSpec,
  ConcurrencyExperimentStatus,
  DURATION_BOUNDS,
  DURATION_PATTERN,
  type DurationBounds,
  KIND,
  MAX_EXPERIMENT_NAME,
  QUANTITY_BOUNDS,
  QUANTITY_PATTERN,
  type QuantityBounds,
  SHORT_NAMES,
  VARIANT_NAME_PATTERN,
} from './schema.ts';

type JsonSchema = Record<string, unknown>;

export const REFERENCE_START = '<!-- reference:start -->';
export const REFERENCE_END = '<!-- reference:end -->';

function typeOf(schema: JsonSchema): string {
  if (schema['pattern'] === DURATION_PATTERN) return 'duration';
  if (schema['pattern'] === QUANTITY_PATTERN) return 'quantity';
  if (schema['type'] === 'array') return `list of ${typeOf(schema['items'] as JsonSchema)}`;
  return String(schema['type']);
}

function allowedOf(schema: JsonSchema): string {
  if (Array.isArray(schema['enum'])) return schema['enum'].map((v) => `\`${v}\``).join(', ');
  const parts: string[] = [];
  const durationBounds = schema[DURATION_BOUNDS] as DurationBounds | undefined;
  const quantityBounds = schema[QUANTITY_BOUNDS] as QuantityBounds | undefined;
  if (durationBounds !== undefined) parts.push(`\`${durationBounds.min}\` to \`${durationBounds.max}\``);
  else if (schema['pattern'] === DURATION_PATTERN) parts.push('`500ms`, `30s`, `2m`, `1h`');
  if (quantityBounds !== undefined)
    parts.push(
      `\`${quantityBounds.min}\` to \`${quantityBounds.max}\`${quantityBounds.unit === undefined ? '' : ` ${quantityBounds.unit}`}`,
    );
  else if (schema['pattern'] === QUANTITY_PATTERN) parts.push('Kubernetes quantity');
  else if (schema['pattern'] === VARIANT_NAME_PATTERN) parts.push('DNS label');
  const min = schema['minimum'] ?? schema['minItems'];
  const max = schema['maximum'] ?? schema['maxItems'];
  if (min !== undefined && max !== undefined)
    parts.push(`${min} to ${max}${schema['type'] === 'array' ? ' items' : ''}`);
  else if (min !== undefined) parts.push(`at least ${min}`);
  else if (max !== undefined) parts.push(`at most ${max}${schema['type'] === 'array' ? ' items' : ''}`);
  if (schema['type'] === 'string' && schema['maxLength'] !== undefined && schema['pattern'] === undefined)
    parts.push(`up to ${schema['maxLength']} characters`);
  return parts.join('; ');
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** Table rows for every field below `schema`, depth first, in schema order. */
function rows(schema: JsonSchema, path: string, required: boolean, out: string[]): void {
  const defaultValue = schema['default'] === undefined ? '' : `\`${JSON.stringify(schema['default'])}\``;
  const need = required && schema['default'] === undefined ? 'yes' : '';
  out.push(
    `| \`${path}\` | ${typeOf(schema)} | ${need} | ${defaultValue} | ${cell(allowedOf(schema))} | ${cell(String(schema['description']))} |`,
  );
  const object = schema['type'] === 'array' ? (schema['items'] as JsonSchema) : schema;
  const suffix = schema['type'] === 'array' ? '[]' : '';
  if (object['type'] !== 'object') return;
  const properties = (object['properties'] as Record<string, JsonSchema> | undefined) ?? {};
  const requiredNames = (object['required'] as string[] | undefined) ?? [];
  for (const [name, child] of Object.entries(properties)) {
    rows(child, `${path}${suffix}.${name}`, requiredNames.includes(name), out);
  }
}

function table(schema: JsonSchema, path: string): string[] {
  const out = ['| Field | Type | Required | Default | Allowed | Description |', '|---|---|---|---|---|---|'];
  rows(schema, path, true, out);
  return out;
}

/** The Markdown between the reference markers (markers excluded). */
export function referenceMarkdown(): string {
  return [
    '',
    '## Manifest reference',
    '',
    `Generated from \`operator/api/schema.ts\` and \`operator/api/rules.ts\` by \`npm run generate\`; do not edit by hand.`,
    `A manifest has \`apiVersion: ${API_VERSION}\`, \`kind: ${KIND}\` (short name \`${SHORT_NAMES.join(', ')}\`), \`metadata.name\` (at most ${MAX_EXPERIMENT_NAME} characters) and the \`spec\` below.`,
    'Durations are strings such as `"30s"`; quantities are strings such as `"500m"` or `"512Mi"`. Unknown fields are errors.',
    'In a cluster, `kubectl explain cx.spec` shows the same descriptions.',
    '',
    '`conclab validate` reaches the verdict kubectl and the API server reach on a manifest:',
    'it reads YAML as kubectl does (YAML 1.1 as go-yaml resolves it: `010` is 8, `yes`, `no`, `on`, `off` are booleans, `1_000` is 1000, a later duplicate key wins),',
    'checks metadata as the API server does (names, labels, annotations of at most 256 KiB), and refuses a file over 1.5 MiB unread.',
    'Every bound in the Allowed column below is enforced by the API server too: a CEL rule on each duration and quantity field.',
    '',
    '### spec',
    '',
    ...table(ConcurrencyExperimentSpec as unknown as JsonSchema, 'spec'),
    '',
    '### Rules across fields',
    '',
    'Checked by the API server (CEL `x-kubernetes-validations` in the CRD) and identically by `conclab validate`:',
    '',
    ...CEL_RULES.filter((rule) => CROSS_FIELD_RULE_IDS.has(rule.id)).map(
      (rule) => `- ${rule.message} (\`${rule.scope}\`)`,
    ),
    '',
    'Checked by conclab itself (`conclab validate`, and whatever loads manifests through `operator/api/validate.ts`), not by the API server:',
    '',
    ...CLI_RULES.map((rule) => `- ${rule.description}`),
    '',
    '### status (written by the operator)',
    '',
    ...table(ConcurrencyExperimentStatus as unknown as JsonSchema, 'status'),
    '',
  ].join('\n');
}

/** `readme` with the text between the markers replaced by the generated reference. */
export function withReference(readme: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start) {
    throw new Error(
      `README.md has no ${REFERENCE_START} ... ${REFERENCE_END} markers; add them where the reference goes`,
    );
  }
  return `${readme.slice(0, start + REFERENCE_START.length)}\n${referenceMarkdown()}\n${readme.slice(end)}`;
}
