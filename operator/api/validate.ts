// Reading and validating ConcurrencyExperiment manifests: the one path from YAML text to a
// defaulted, typed experiment, used by `conclab validate`, `conclab run` and the operator.
//
// Order, as kubectl and the API server do it: refuse a text too large to be an object before
// reading it, read it as kubectl reads it (kubectl-parse.ts: YAML 1.1 as go-yaml resolves it),
// check apiVersion/kind and metadata as the API server checks ObjectMeta, apply schema defaults,
// validate against the schema (unknown fields are errors, as with kubectl's strict field
// validation), then the rules of rules.ts (bounds and cross-field rules, each also a CEL rule
// of the CRD). Every problem is collected, never just the first, and each is one line: file,
// document, line, field path, the offending value and what is allowed.
import { open } from 'node:fs/promises';
import Schema from 'typebox/schema';
import { applyDefaults } from './defaults.ts';
import { type KubectlDocument, parseAsKubectl } from './kubectl-parse.ts';
import { checkRules } from './rules.ts';
import {
  API_VERSION,
  type ConcurrencyExperiment,
  ConcurrencyExperimentSpec,
  DURATION_PATTERN,
  KIND,
  MAX_EXPERIMENT_NAME,
  QUANTITY_PATTERN,
  VARIANT_NAME_PATTERN,
} from './schema.ts';
import {
  DURATION_ALLOWED,
  formatValue,
  parseDurationMillis,
  parseQuantity,
  QUANTITY_ALLOWED,
  typeName,
  UnitError,
} from './units.ts';

/** One problem in a manifest. `formatProblem()` turns it into the one line the CLI prints. */
export interface Problem {
  file: string;
  /** 1-based position of the YAML document in the file, empty documents not counted. */
  document: number;
  /** Whether the file holds more than one document (then the line names the document). */
  multiDocument: boolean;
  /** 1-based line of the offending field (or of its nearest existing parent), when known. */
  line?: number;
  /** Field path such as `spec.variants[1].workers`; empty for problems of the whole document. */
  path: string;
  /** The rest of the line: offending value, what is wrong, what is allowed. */
  message: string;
}

/** `FILE[#document][:line]: path: message`, the one-line form of a problem. */
export function formatProblem(problem: Problem): string {
  const document = problem.multiDocument ? `#${problem.document}` : '';
  const line = problem.line === undefined ? '' : `:${problem.line}`;
  const path = problem.path === '' ? '' : `${problem.path}: `;
  return `${problem.file}${document}${line}: ${path}${problem.message}`;
}

/** A manifest that does not validate; `problems` holds every problem found. */
export class ManifestError extends Error {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid ConcurrencyExperiment manifest (${count}):\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ManifestError';
    this.problems = problems;
  }
}

/** What checking a manifest found: the valid experiments (defaulted) and every problem. */
export interface CheckResult {
  experiments: ConcurrencyExperiment[];
  problems: Problem[];
  /** Not problems, but worth saying: a duplicate key, whose later value kubectl uses too. */
  warnings: Problem[];
}

/**
 * The largest manifest read, in bytes; a larger one is refused before it is parsed. etcd stores
 * at most 1.5 MiB per object (the API server takes 3 MiB per request), and a valid experiment
 * is a few KiB plus its metadata, so nothing valid is lost and a huge file costs nothing.
 */
export const MAX_MANIFEST_BYTES = 1.5 * 1024 * 1024;

/** The API server's bound on metadata.annotations: keys and values together, in bytes. */
export const MAX_ANNOTATION_BYTES = 256 * 1024;

type Segment = string | number;
type JsonSchema = Record<string, unknown>;

const TOP_LEVEL_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
// The API server's rule for object names (a DNS-1123 subdomain).
const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_ALLOWED =
  'a DNS-1123 name of at most 253 characters: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit';

/** `spec.variants[1].workers` from ['spec', 'variants', 1, 'workers']. */
export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/** Segments of a JSON pointer such as `/variants/1/workers` (array indices as numbers). */
function pointerSegments(pointer: string): Segment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      return /^(0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : segment;
    });
}

/** The subschema at `segments` below `schema`, following properties and items. */
function schemaAt(schema: JsonSchema, segments: readonly Segment[]): JsonSchema | undefined {
  let node: JsonSchema | undefined = schema;
  for (const segment of segments) {
    if (node === undefined) return undefined;
    if (typeof segment === 'number') node = node['items'] as JsonSchema | undefined;
    else node = (node['properties'] as Record<string, JsonSchema> | undefined)?.[segment];
  }
  return node;
}

function valueAt(value: unknown, segments: readonly Segment[]): unknown {
  let node = value;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<Segment, unknown>)[segment];
  }
  return node;
}

function range(schema: JsonSchema, noun: string): string {
  const min = schema['minimum'] as number | undefined;
  const max = schema['maximum'] as number | undefined;
  if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
  if (min !== undefined) return `${noun} of at least ${min}`;
  if (max !== undefined) return `${noun} of at most ${max}`;
  return noun;
}

/** What a schema allows, in words: `an integer from 1 to 256`, `one of "process", "thread"`. */
export function describeAllowed(schema: JsonSchema): string {
  if (Array.isArray(schema['enum'])) return `one of ${schema['enum'].map((v) => JSON.stringify(v)).join(', ')}`;
  switch (schema['type']) {
    case 'integer':
      return range(schema, 'an integer');
    case 'number':
      return range(schema, 'a number');
    case 'boolean':
      return 'true or false';
    case 'array': {
      const min = schema['minItems'] as number | undefined;
      const max = schema['maxItems'] as number | undefined;
      if (min !== undefined && max !== undefined) return `a list of ${min} to ${max} items`;
      if (max !== undefined) return `a list of at most ${max} items`;
      return 'a list';
    }
    case 'object': {
      const names = Object.keys((schema['properties'] as JsonSchema | undefined) ?? {});
      return `a mapping with the fields ${names.join(', ')}`;
    }
    case 'string': {
      if (schema['pattern'] === DURATION_PATTERN) return DURATION_ALLOWED;
      if (schema['pattern'] === QUANTITY_PATTERN) return QUANTITY_ALLOWED;
      if (schema['pattern'] === VARIANT_NAME_PATTERN)
        return `a DNS label of at most ${schema['maxLength']} characters: lower-case letters, digits and "-", starting and ending with a letter or digit`;
      const min = (schema['minLength'] as number | undefined) ?? 0;
      const max = schema['maxLength'] as number | undefined;
      if (max !== undefined) return `a string of ${min} to ${max} characters`;
      return 'a string';
    }
    default:
      return 'a value as described by `conclab validate --help`';
  }
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
}

/** One `path -> message` per offending field of the spec, from TypeBox's errors. */
function specProblems(spec: unknown): Array<{ segments: Segment[]; message: string }> {
  const out: Array<{ segments: Segment[]; message: string }> = [];
  const seen = new Set<string>();
  const add = (segments: Segment[], message: string) => {
    const key = formatPath(segments);
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ segments: ['spec', ...segments], message });
  };
  const root = ConcurrencyExperimentSpec as unknown as JsonSchema;
  const [, errors] = Schema.Errors(ConcurrencyExperimentSpec, spec);
  for (const error of errors as SchemaError[]) {
    const at = pointerSegments(error.instancePath);
    const schema = schemaAt(root, at) ?? {};
    const value = valueAt(spec, at);
    switch (error.keyword) {
      case 'required':
        for (const name of (error.params['requiredProperties'] as string[] | undefined) ?? []) {
          const child = schemaAt(schema, [name]) ?? {};
          add([...at, name], `is missing; allowed: ${describeAllowed(child)}`);
        }
        break;
      case 'additionalProperties': {
        const names = Object.keys((schema['properties'] as JsonSchema | undefined) ?? {});
        const where = formatPath(['spec', ...at]);
        for (const name of (error.params['additionalProperties'] as string[] | undefined) ?? []) {
          add([...at, name], `is not a field of ${where}; allowed: ${names.join(', ')}`);
        }
        break;
      }
      case 'boolean':
        // `additionalProperties: false` also fails per property; the case above words it better.
        break;
      case 'type':
      case 'pattern':
        if (schema['pattern'] === DURATION_PATTERN || schema['pattern'] === QUANTITY_PATTERN) {
          try {
            if (schema['pattern'] === DURATION_PATTERN) parseDurationMillis(value);
            else parseQuantity(value);
          } catch (problem) {
            if (problem instanceof UnitError) {
              add(at, problem.message);
              break;
            }
          }
        }
        if (error.keyword === 'type') add(at, `${isWrongType(value)}; allowed: ${describeAllowed(schema)}`);
        else add(at, `${formatValue(value)} is not in the required form; allowed: ${describeAllowed(schema)}`);
        break;
      case 'enum':
        add(at, `${formatValue(value)} is not allowed; allowed: ${describeAllowed(schema)}`);
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        add(at, `${formatValue(value)} is out of range; allowed: ${describeAllowed(schema)}`);
        break;
      case 'minLength':
      case 'maxLength':
        add(at, `${formatValue(value)} has ${String(value).length} characters; allowed: ${describeAllowed(schema)}`);
        break;
      case 'minItems':
      case 'maxItems':
        add(at, `has ${Array.isArray(value) ? value.length : 0} items; allowed: ${describeAllowed(schema)}`);
        break;
      default:
        add(at, `${formatValue(value)} is not valid (${error.keyword}); allowed: ${describeAllowed(schema)}`);
    }
  }
  return out;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * About how many bytes of annotations the object has after client-side `kubectl apply` adds
 * its last-applied annotation: the object as compact JSON (Go escapes <, > and & as \u003c).
 */
function lastAppliedBytes(object: unknown): number {
  const annotations = (object as { metadata?: { annotations?: unknown } } | null)?.metadata?.annotations;
  let own = 0;
  if (annotations !== null && typeof annotations === 'object')
    for (const [key, value] of Object.entries(annotations))
      if (typeof value === 'string') own += Buffer.byteLength(key) + Buffer.byteLength(value);
  const json = JSON.stringify(object) ?? '';
  const htmlEscapes = json.match(/[<>&]/g)?.length ?? 0;
  return own + LAST_APPLIED.length + Buffer.byteLength(json) + 5 * htmlEscapes + 1;
}

/** The one problem of a manifest over MAX_MANIFEST_BYTES (`bytes` may be a lower bound). */
export function tooLarge(file: string, bytes: number): Problem {
  const message = `is ${bytes} bytes, too large to be an experiment; allowed: a manifest of at most 1.5 MiB (${MAX_MANIFEST_BYTES} bytes), the most etcd stores for one object`;
  return { file, document: 1, multiDocument: false, path: '', message };
}

/**
 * Reads a manifest file, or standard input for "-", reading no more than MAX_MANIFEST_BYTES + 1
 * bytes: a larger input is refused unread. Throws the read error (ENOENT, EISDIR, ...).
 */
export async function readManifest(path: string): Promise<{ text: string } | { tooLarge: Problem }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const limit = MAX_MANIFEST_BYTES + 1;
  if (path === '-') {
    for await (const chunk of process.stdin) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= limit) return { tooLarge: tooLarge('<stdin>', size) };
    }
    return { text: Buffer.concat(chunks).toString('utf8') };
  }
  const handle = await open(path, 'r');
  try {
    const stats = await handle.stat();
    if (stats.isFile() && stats.size >= limit) return { tooLarge: tooLarge(path, stats.size) };
    const buffer = Buffer.alloc(limit);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, size, limit - size, null);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size >= limit) return { tooLarge: tooLarge(path, stats.isFile() ? stats.size : size) };
    }
    return { text: buffer.subarray(0, size).toString('utf8') };
  } finally {
    await handle.close();
  }
}

/**
 * Checks every document of a manifest and returns the defaulted experiments of the valid
 * documents and all problems. Never throws on bad input.
 */
export function checkManifest(text: string, file = '<input>'): CheckResult {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const experiments: ConcurrencyExperiment[] = [];
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_MANIFEST_BYTES) return { experiments, problems: [tooLarge(file, bytes)], warnings };
  // Empty and null documents are left out, as kubectl skips them.
  const docs = parseAsKubectl(text);
  const multiDocument = docs.length > 1;
  docs.forEach((doc, index) => {
    const document = index + 1;
    const at = (segments: readonly Segment[], line = doc.lineOf(segments)) => ({
      file,
      document,
      multiDocument,
      ...(line === undefined ? {} : { line }),
      path: formatPath(segments),
    });
    for (const warning of doc.warnings)
      warnings.push({ ...at([], warning.line), message: `warning: ${warning.message}` });
    if (doc.error !== undefined) {
      const message = doc.error.message.startsWith('YAML syntax error')
        ? doc.error.message
        : `YAML cannot be read: ${doc.error.message}`;
      problems.push({ ...at([], doc.error.line), message });
      return;
    }
    const found: Problem[] = [];
    for (const { object, prefix } of listItems(doc)) {
      const experiment = checkObject(object, (segments, message) =>
        found.push({ ...at([...prefix, ...segments]), message }),
      );
      if (experiment !== undefined) experiments.push(experiment);
      const applied = lastAppliedBytes(object);
      if (experiment !== undefined && applied > MAX_ANNOTATION_BYTES)
        warnings.push({
          ...at([...prefix, 'metadata', 'annotations']),
          message: `warning: client-side \`kubectl apply\` would refuse this: it keeps the whole object in the annotation ${LAST_APPLIED}, which brings metadata.annotations to about ${applied} bytes, over the API server's ${MAX_ANNOTATION_BYTES}; use \`kubectl apply --server-side\` or \`kubectl create\`, or smaller annotations`,
        });
    }
    // In file order, so the lines read top to bottom like the manifest (sort is stable).
    problems.push(...found.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  });
  if (docs.length === 0) {
    const message = `holds no YAML document; allowed: a ConcurrencyExperiment manifest (apiVersion: ${API_VERSION}, kind: ${KIND})`;
    problems.push({ file, document: 1, multiDocument: false, path: '', message });
  }
  return { experiments, problems, warnings };
}

/**
 * The objects of a document: the document itself, or, as kubectl reads any object with an
 * `items` field (a List), each item, which takes the list's apiVersion and its kind without
 * "List" when it names neither.
 */
function listItems(doc: KubectlDocument): Array<{ object: unknown; prefix: Segment[] }> {
  const value = doc.value as Record<string, unknown> | null;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, 'items'))
    return [{ object: value, prefix: [] }];
  const items = Array.isArray(value['items']) ? value['items'] : [];
  const kind = typeof value['kind'] === 'string' ? value['kind'].replace(/List$/, '') : undefined;
  return items.map((item, index) => {
    const fields = item as Record<string, unknown>;
    const inherits =
      item !== null && typeof item === 'object' && fields['kind'] === undefined && fields['apiVersion'] === undefined;
    const object = inherits ? { ...fields, apiVersion: value['apiVersion'], kind } : item;
    return { object, prefix: ['items', index] };
  });
}

/**
 * Checks one parsed object; reports problems through `report` and returns the defaulted
 * experiment when there were none. Exported for objects that do not come from YAML (the
 * operator reads them from the API server).
 */
export function checkObject(
  object: unknown,
  report: (segments: readonly Segment[], message: string) => void,
): ConcurrencyExperiment | undefined {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    report([], `${isWrongType(object)}; allowed: a ConcurrencyExperiment manifest (a mapping)`);
    return undefined;
  }
  const fields = object as Record<string, unknown>;
  let count = 0;
  const problem = (segments: readonly Segment[], message: string) => {
    count++;
    report(segments, message);
  };
  if (fields['apiVersion'] !== API_VERSION)
    problem(['apiVersion'], `${formatValue(fields['apiVersion'])} is not supported; allowed: "${API_VERSION}"`);
  if (fields['kind'] !== KIND) problem(['kind'], `${formatValue(fields['kind'])} is not supported; allowed: "${KIND}"`);
  // Another kind of object: its fields follow other rules, so stop here.
  if (count > 0) return undefined;
  for (const name of Object.keys(fields)) {
    if (!TOP_LEVEL_FIELDS.includes(name))
      problem([name], `is not a field of a ConcurrencyExperiment; allowed: ${TOP_LEVEL_FIELDS.join(', ')}`);
  }
  checkMetadata(fields['metadata'], problem);
  if (fields['spec'] === undefined) {
    problem(['spec'], 'is missing; allowed: a mapping with the fields workload, resources, variants, load, ...');
    return undefined;
  }
  const spec = applyDefaults(ConcurrencyExperimentSpec, fields['spec']);
  for (const { segments, message } of specProblems(spec)) problem(segments, message);
  for (const violation of checkRules(spec)) {
    const value = violation.value === undefined ? '' : `${formatValue(violation.value)} `;
    problem(pathSegments(violation.path), `${value}${violation.problem}; allowed: ${violation.allowed}`);
  }
  if (count > 0) return undefined;
  const { status: _status, ...rest } = fields;
  return { ...rest, spec } as unknown as ConcurrencyExperiment;
}

// ObjectMeta as the API server decodes (strict field validation) and validates it for a
// namespaced custom resource (apimachinery's ValidateObjectMeta with NameIsDNSSubdomain).
const METADATA_FIELDS = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];
const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUALIFIED_ALLOWED =
  'a name of at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit, with an optional DNS subdomain prefix and "/" ("example.com/name")';
const LABEL_VALUE_ALLOWED =
  'a string of at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit, or empty';

/** apimachinery's IsQualifiedName. */
function isQualifiedName(key: string): boolean {
  const parts = key.split('/');
  if (parts.length > 2) return false;
  const name = parts.at(-1) ?? '';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME_PART_RE.test(name)) return false;
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    return prefix.length > 0 && prefix.length <= 253 && NAME_RE.test(prefix);
  }
  return true;
}

function checkStringMap(
  value: unknown,
  field: 'labels' | 'annotations',
  problem: (segments: readonly Segment[], message: string) => void,
): void {
  if (value === undefined || value === null) return;
  const where = ['metadata', field];
  if (typeof value !== 'object' || Array.isArray(value)) {
    problem(where, `${isWrongType(value)}; allowed: a mapping of names to strings`);
    return;
  }
  let bytes = 0;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (!isQualifiedName(field === 'annotations' ? key.toLowerCase() : key))
      problem(
        [...where, key],
        `${formatValue(key)} is not a valid ${field === 'labels' ? 'label' : 'annotation'} key; allowed: ${QUALIFIED_ALLOWED}`,
      );
    if (typeof item !== 'string') {
      const hint = item === null ? '' : ` (write it quoted: "${String(item)}")`;
      problem(
        [...where, key],
        `${isWrongType(item)}${hint}; allowed: ${field === 'labels' ? LABEL_VALUE_ALLOWED : 'a string'}`,
      );
      continue;
    }
    bytes += Buffer.byteLength(key) + Buffer.byteLength(item);
    if (field === 'labels' && item !== '' && (item.length > 63 || !QUALIFIED_NAME_PART_RE.test(item)))
      problem([...where, key], `${formatValue(item)} is not a valid label value; allowed: ${LABEL_VALUE_ALLOWED}`);
  }
  if (field === 'annotations' && bytes > MAX_ANNOTATION_BYTES)
    problem(
      where,
      `are ${bytes} bytes in total; allowed: at most ${MAX_ANNOTATION_BYTES} bytes (256 KiB) of keys and values, as the API server allows`,
    );
}

/** The checks of metadata that the API server makes, for a manifest the CLI reads. */
function checkMetadata(metadata: unknown, problem: (segments: readonly Segment[], message: string) => void): void {
  if (metadata === undefined) {
    problem(['metadata'], 'is missing; allowed: a mapping with at least name');
    return;
  }
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    problem(['metadata'], `${isWrongType(metadata)}; allowed: a mapping with at least name`);
    return;
  }
  const fields = metadata as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!METADATA_FIELDS.includes(name))
      problem(['metadata', name], `is not a field of metadata; allowed: ${METADATA_FIELDS.join(', ')}`);
  }
  const name = fields['name'];
  if (typeof name !== 'string' || name.length > 253 || !NAME_RE.test(name))
    problem(['metadata', 'name'], `${formatValue(name)} is not a valid name; allowed: ${NAME_ALLOWED}`);
  else if (name.length > MAX_EXPERIMENT_NAME)
    problem(
      ['metadata', 'name'],
      `${formatValue(name)} has ${name.length} characters; allowed: at most ${MAX_EXPERIMENT_NAME} (the CRD's bound: the name becomes a label value of every pod)`,
    );
  const namespace = fields['namespace'];
  if (namespace !== undefined && namespace !== null && namespace !== '') {
    if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL_RE.test(namespace))
      problem(
        ['metadata', 'namespace'],
        `${formatValue(namespace)} is not a valid namespace; allowed: a DNS label of at most 63 characters: lower-case letters, digits and "-"`,
      );
  }
  checkStringMap(fields['labels'], 'labels', problem);
  checkStringMap(fields['annotations'], 'annotations', problem);
  const finalizers = fields['finalizers'];
  if (finalizers !== undefined && finalizers !== null) {
    if (!Array.isArray(finalizers))
      problem(['metadata', 'finalizers'], `${isWrongType(finalizers)}; allowed: a list of names`);
    else
      finalizers.forEach((finalizer, index) => {
        if (typeof finalizer !== 'string' || !isQualifiedName(finalizer))
          problem(
            ['metadata', 'finalizers', index],
            `${formatValue(finalizer)} is not a valid finalizer; allowed: ${QUALIFIED_ALLOWED}`,
          );
      });
  }
}

/** `"four" is a string`, `is a list of 2 items`: the value is shown only when it is short. */
function isWrongType(value: unknown): string {
  if (Array.isArray(value)) return `is a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (value !== null && typeof value === 'object') return 'is a mapping';
  return `${formatValue(value)} is ${typeName(value)}`;
}

/** ['spec', 'variants', 1, 'name'] from `spec.variants[1].name`. */
function pathSegments(path: string): Segment[] {
  const out: Segment[] = [];
  for (const part of path.split('.')) {
    const [name = '', ...indices] = part.split('[');
    if (name !== '') out.push(name);
    for (const index of indices) out.push(Number(index.replace(']', '')));
  }
  return out;
}

/** Every experiment in a manifest text, defaulted and typed. Throws ManifestError listing all problems. */
export function parseExperiments(text: string, file = '<input>'): ConcurrencyExperiment[] {
  const { experiments, problems } = checkManifest(text, file);
  if (problems.length > 0) throw new ManifestError(problems);
  return experiments;
}

/** The one experiment in a manifest text. Throws ManifestError, also when there is more than one. */
export function parseExperiment(text: string, file = '<input>'): ConcurrencyExperiment {
  const experiments = parseExperiments(text, file);
  if (experiments.length !== 1) {
    throw new ManifestError([
      {
        file,
        document: 2,
        multiDocument: true,
        path: '',
        message: `holds ${experiments.length} experiments; allowed: exactly one here (give one file per experiment)`,
      },
    ]);
  }
  return experiments[0]!;
}

/** Reads a manifest file and returns its experiments. Throws ManifestError, or the read error. */
export async function loadExperiments(path: string): Promise<ConcurrencyExperiment[]> {
  const read = await readManifest(path);
  if ('tooLarge' in read) throw new ManifestError([read.tooLarge]);
  return parseExperiments(read.text, path);
}
