// Manifest text to objects, exactly as kubectl reads it, so that `conclab validate` and
// `kubectl apply` see the same values in the same file.
//
// kubectl (k8s.io/apimachinery util/yaml, v1.34) does three things, mirrored here:
// - a stream whose first non-space character is "{" is read as JSON values, one after the
//   other; otherwise it is split into documents at every line that starts with "---" (only
//   spaces or a comment may follow it on that line);
// - each YAML document goes through sigs.k8s.io/yaml, i.e. go-yaml v2, which resolves plain
//   scalars by YAML 1.1 rules as go-yaml implements them: `010` is 8, `0o10` is 8, `1_000` is
//   1000, `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `1e3` is a number, `1:30` and timestamps
//   stay strings, `<<` merges mappings, a later duplicate key silently wins;
// - the result is turned into JSON: map keys become strings (`yes:` is "true"), NaN and
//   infinities are refused, and documents that are empty or null are skipped.
// The syntax is read by the `yaml` package with the failsafe schema (every scalar a string)
// and the resolution above is done here, a line-by-line port of go-yaml v2's resolve.go, so no
// YAML 1.2 rule leaks in. test/api/kubectl-parse.test.ts compares this with the real kubectl.
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';

/** One document of a manifest as kubectl reads it. */
export interface KubectlDocument {
  /** The object kubectl would send (plain JSON values); undefined when `error` is set. */
  value?: unknown;
  /** Why kubectl would refuse to read this document, with the 1-based line when known. */
  error?: { message: string; line?: number };
  /** Notes that do not change what is sent, such as a duplicate key (the later one wins). */
  warnings: Array<{ message: string; line?: number }>;
  /** 1-based line in the whole text of the field at `segments`, or of its nearest parent. */
  lineOf(segments: readonly (string | number)[]): number | undefined;
}

/** go-yaml's and sigs.k8s.io/yaml's refusals, with their wording. */
class KubectlYamlError extends Error {
  readonly offset: number | undefined;
  constructor(message: string, offset?: number) {
    super(message);
    this.offset = offset;
  }
}

const STR = 'tag:yaml.org,2002:str';
const BOOL = 'tag:yaml.org,2002:bool';
const INT = 'tag:yaml.org,2002:int';
const FLOAT = 'tag:yaml.org,2002:float';
const NULL = 'tag:yaml.org,2002:null';
const TIMESTAMP = 'tag:yaml.org,2002:timestamp';
const BINARY = 'tag:yaml.org,2002:binary';
const MERGE = 'tag:yaml.org,2002:merge';
const RESOLVABLE = new Set(['', STR, BOOL, INT, FLOAT, NULL, TIMESTAMP]);

/** A resolved scalar, keeping Go's distinction of int, uint and float (it matters for keys). */
type Resolved =
  | { tag: typeof STR; value: string }
  | { tag: typeof BOOL; value: boolean }
  | { tag: typeof INT; value: bigint; unsigned: boolean }
  | { tag: typeof FLOAT; value: number }
  | { tag: typeof NULL; value: null }
  | { tag: typeof TIMESTAMP; value: string }
  | { tag: string; value: string };

// resolve.go's table: words resolved by lookup, whatever the tag hint says.
const RESOLVE_MAP = new Map<string, Resolved>();
for (const word of ['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'])
  RESOLVE_MAP.set(word, { tag: BOOL, value: true });
for (const word of ['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'])
  RESOLVE_MAP.set(word, { tag: BOOL, value: false });
for (const word of ['', '~', 'null', 'Null', 'NULL']) RESOLVE_MAP.set(word, { tag: NULL, value: null });
for (const word of ['.nan', '.NaN', '.NAN']) RESOLVE_MAP.set(word, { tag: FLOAT, value: Number.NaN });
for (const word of ['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'])
  RESOLVE_MAP.set(word, { tag: FLOAT, value: Number.POSITIVE_INFINITY });
for (const word of ['-.inf', '-.Inf', '-.INF']) RESOLVE_MAP.set(word, { tag: FLOAT, value: Number.NEGATIVE_INFINITY });

/** resolveTable: the first character hints at what a plain scalar may be. */
function hintOf(text: string): 'S' | 'D' | 'M' | '.' | 'N' | undefined {
  if (text === '') return 'N';
  const c = text[0]!;
  if (c === '+' || c === '-') return 'S';
  if (c >= '0' && c <= '9') return 'D';
  if ('yYnNtTfFoO~'.includes(c)) return 'M';
  if (c === '.') return '.';
  return undefined;
}

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
// What Go's strconv.ParseFloat accepts after a leading "." (no hex, no underscores there).
const DOT_FLOAT = /^\.[0-9]+([eE][-+]?[0-9]+)?$/;
const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MAX = (1n << 63n) - 1n;

/** Go's strconv.ParseUint(s, 0, 64) (underscores already removed by the caller). */
function goParseUint(s: string): bigint | undefined {
  if (s === '') return undefined;
  let base = 10n;
  let digits = s;
  if (s[0] === '0') {
    const prefix = s.length >= 3 ? s[1]!.toLowerCase() : '';
    if (prefix === 'b') [base, digits] = [2n, s.slice(2)];
    else if (prefix === 'o') [base, digits] = [8n, s.slice(2)];
    else if (prefix === 'x') [base, digits] = [16n, s.slice(2)];
    else [base, digits] = [8n, s.slice(1)];
  }
  let n = 0n;
  for (const c of digits.toLowerCase()) {
    let d: number;
    if (c >= '0' && c <= '9') d = c.charCodeAt(0) - 48;
    else if (c >= 'a' && c <= 'z') d = c.charCodeAt(0) - 87;
    else return undefined;
    if (BigInt(d) >= base) return undefined;
    n = n * base + BigInt(d);
    if (n > UINT64_MAX) return undefined;
  }
  return n;
}

/** Go's strconv.ParseInt(s, 0, 64). */
function goParseInt(s: string): bigint | undefined {
  const negative = s.startsWith('-');
  const body = s.startsWith('+') || negative ? s.slice(1) : s;
  const n = goParseUint(body);
  if (n === undefined) return undefined;
  if (!negative && n > INT64_MAX) return undefined;
  if (negative && n > INT64_MAX + 1n) return undefined;
  return negative ? -n : n;
}

/** Go's strconv.ParseFloat for text already known to be in decimal form; undefined on overflow. */
function goParseFloat(s: string): number | undefined {
  const value = Number(s);
  return Number.isFinite(value) ? value : undefined;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const TIMESTAMP_FORMS = [
  /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2})$/,
];

/** go-yaml's parseTimestamp: the four layouts it tries with time.Parse, with Go's range checks. */
function isTimestamp(s: string): boolean {
  for (const form of TIMESTAMP_FORMS) {
    const m = form.exec(s);
    if (m === null) continue;
    const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((x) => (x ? Number(x) : 0));
    const leap = year! % 4 === 0 && (year! % 100 !== 0 || year! % 400 === 0);
    const days = month === 2 && !leap ? 28 : (DAYS_IN_MONTH[month! - 1] ?? 0);
    if (month! < 1 || month! > 12 || day! < 1 || day! > days) return false;
    return hour < 24 && minute < 60 && second < 60;
  }
  return false;
}

function shortTag(tag: string): string {
  return tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
}

/** go-yaml v2 resolve(tag, in), including its check that an explicit tag fits the value. */
export function goYamlResolve(tag: string, text: string): Resolved {
  if (!RESOLVABLE.has(tag)) return { tag, value: text };
  const resolved = resolveUntyped(tag, text);
  if (tag === '' || tag === resolved.tag || tag === STR) return resolved;
  if (tag === FLOAT && resolved.tag === INT) return { tag: FLOAT, value: Number(resolved.value as bigint) };
  throw new KubectlYamlError(`cannot decode ${shortTag(resolved.tag)} \`${text}\` as a ${shortTag(tag)}`);
}

function resolveUntyped(tag: string, text: string): Resolved {
  const hint = hintOf(text);
  if (hint !== undefined && tag !== STR) {
    const known = RESOLVE_MAP.get(text);
    if (known !== undefined) return known;
    if (hint === '.') {
      const value = DOT_FLOAT.test(text) ? goParseFloat(text) : undefined;
      if (value !== undefined) return { tag: FLOAT, value };
    } else if (hint === 'D' || hint === 'S') {
      if ((tag === '' || tag === TIMESTAMP) && isTimestamp(text)) return { tag: TIMESTAMP, value: text };
      const plain = text.replaceAll('_', '');
      const int = goParseInt(plain);
      if (int !== undefined) return { tag: INT, value: int, unsigned: false };
      const uint = goParseUint(plain);
      if (uint !== undefined) return { tag: INT, value: uint, unsigned: true };
      if (YAML_STYLE_FLOAT.test(plain)) {
        const value = goParseFloat(plain);
        if (value !== undefined) return { tag: FLOAT, value };
      }
      // resolve.go's own 0b/-0b branch is unreachable here: ParseInt with base 0 reads 0b already.
    }
  }
  return { tag: STR, value: text };
}

/** Go's strconv.FormatFloat(f, 'g', -1, 32), which sigs.k8s.io/yaml uses for float map keys. */
export function goFormatFloatKey(f: number): string {
  if (Number.isNaN(f)) return '.nan';
  if (f === Number.POSITIVE_INFINITY) return '.inf';
  if (f === Number.NEGATIVE_INFINITY) return '-.inf';
  const single = Math.fround(f);
  if (single === 0) return Object.is(single, -0) ? '-0' : '0';
  let digits = 1;
  while (digits < 9 && Math.fround(Number(single.toPrecision(digits))) !== single) digits++;
  const [mantissa = '', exponentText = '0'] = single.toExponential(digits - 1).split('e');
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const figures = mantissa.replace('-', '').replace('.', '');
  let out: string;
  if (exponent < -4 || exponent >= 6) {
    const fraction = figures.length > 1 ? `.${figures.slice(1)}` : '';
    const sign = exponent < 0 ? '-' : '+';
    out = `${figures[0]}${fraction}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  } else if (exponent < 0) {
    out = `0.${'0'.repeat(-exponent - 1)}${figures}`;
  } else {
    const whole = figures.padEnd(exponent + 1, '0');
    const fraction = figures.slice(exponent + 1);
    out = fraction === '' ? whole.slice(0, exponent + 1) : `${whole.slice(0, exponent + 1)}.${fraction}`;
  }
  return negative ? `-${out}` : out;
}

/** Positions of the keys and items of every object and list built, for line numbers. */
type Positions = WeakMap<object, Map<string | number, number>>;

// go-yaml v2 decode.go's defence against alias bombs ("billion laughs"), with its figures.
function allowedAliasRatio(decodeCount: number): number {
  if (decodeCount <= 400_000) return 0.99;
  if (decodeCount >= 4_000_000) return 0.1;
  return 0.99 - 0.89 * ((decodeCount - 400_000) / 3_600_000);
}

// go-yaml's scanner refuses deeper nesting than this ("exceeded max depth of 10000").
const MAX_DEPTH = 10_000;

/** Builds the JSON value of one parsed YAML document the way go-yaml v2 + sigs.k8s.io/yaml do. */
class Decoder {
  readonly #doc: Document;
  readonly positions: Positions = new WeakMap();
  readonly warnings: Array<{ message: string; offset?: number }> = [];
  #decodeCount = 0;
  #aliasCount = 0;
  #aliasDepth = 0;
  #depth = 0;
  readonly #resolving = new Set<Node>();

  constructor(doc: Document) {
    this.#doc = doc;
  }

  #count(): void {
    this.#decodeCount++;
    if (this.#aliasDepth > 0) this.#aliasCount++;
    if (
      this.#aliasCount > 100 &&
      this.#decodeCount > 1000 &&
      this.#aliasCount / this.#decodeCount > allowedAliasRatio(this.#decodeCount)
    )
      throw new KubectlYamlError('document contains excessive aliasing');
  }

  /** A node (or a missing one, which is null) as a Go value, before JSON conversion. */
  node(node: unknown): unknown {
    this.#count();
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.#alias(node, (target) => this.node(target));
    if (isScalar(node)) return this.#scalarValue(node);
    if (++this.#depth > MAX_DEPTH) throw new KubectlYamlError(`exceeded max depth of ${MAX_DEPTH}`, offsetOf(node));
    try {
      if (isSeq(node)) {
        const out: unknown[] = [];
        const where = new Map<number, number>();
        node.items.forEach((item, index) => {
          const at = offsetOf(item);
          if (at !== undefined) where.set(index, at);
          out.push(this.node(item));
        });
        this.positions.set(out, where);
        return out;
      }
      if (isMap(node)) {
        const out: Record<string, unknown> = {};
        this.positions.set(out, new Map());
        this.#mapInto(node, out, false);
        return out;
      }
    } finally {
      this.#depth--;
    }
    throw new KubectlYamlError('unsupported YAML node', offsetOf(node));
  }

  #alias<T>(alias: { source: string; resolve(doc: Document): unknown }, use: (target: unknown) => T): T {
    if (this.#resolving.has(alias as unknown as Node))
      throw new KubectlYamlError(`anchor '${alias.source}' value contains itself`, offsetOf(alias));
    const target = alias.resolve(this.#doc);
    if (target === undefined)
      throw new KubectlYamlError(`unknown anchor '${alias.source}' referenced`, offsetOf(alias));
    this.#resolving.add(alias as unknown as Node);
    this.#aliasDepth++;
    try {
      return use(target);
    } finally {
      this.#aliasDepth--;
      this.#resolving.delete(alias as unknown as Node);
    }
  }

  /** decode.go scalar(): the Go value of a scalar node (timestamps stay strings, as there). */
  #scalar(node: { value: unknown; type?: string | undefined; tag?: string | undefined }): Resolved {
    const text = String(node.value ?? '');
    const tag = node.tag ?? '';
    const implicit = (tag === '' && node.type === 'PLAIN') || tag === '!';
    if (tag === '' && !implicit) return { tag: STR, value: text };
    const resolved = goYamlResolve(tag === '!' ? '!' : tag, text);
    if (resolved.tag === BINARY) return { tag: STR, value: decodeBinary(text) };
    return resolved;
  }

  #scalarValue(node: { value: unknown; type?: string | undefined; tag?: string | undefined; range?: unknown }) {
    let resolved: Resolved;
    try {
      resolved = this.#scalar(node);
    } catch (error) {
      if (error instanceof KubectlYamlError && error.offset === undefined)
        throw new KubectlYamlError(error.message, offsetOf(node));
      throw error;
    }
    if (resolved.tag === INT) return Number(resolved.value as bigint);
    if (resolved.tag === FLOAT && !Number.isFinite(resolved.value as number)) {
      // encoding/json refuses these; sigs.k8s.io/yaml passes its words on.
      const word = Number.isNaN(resolved.value) ? 'NaN' : (resolved.value as number) > 0 ? '+Inf' : '-Inf';
      throw new KubectlYamlError(`json: unsupported value: ${word}`, offsetOf(node));
    }
    return resolved.value;
  }

  /** The JSON key sigs.k8s.io/yaml makes of a Go map key, or its refusal. */
  #key(keyNode: unknown): string {
    this.#count();
    const target = isAlias(keyNode) ? this.#alias(keyNode, (t) => t) : keyNode;
    if (target === null || target === undefined) throw unsupportedKey('<nil>', keyNode);
    if (isMap(target) || isSeq(target)) throw new KubectlYamlError('invalid map key', offsetOf(keyNode));
    if (!isScalar(target)) throw new KubectlYamlError('invalid map key', offsetOf(keyNode));
    const resolved = this.#scalar(target);
    switch (resolved.tag) {
      case NULL:
        throw unsupportedKey('<nil>', keyNode);
      case BOOL:
        return resolved.value ? 'true' : 'false';
      case INT:
        if ((resolved as { unsigned: boolean }).unsigned) throw unsupportedKey('uint64', keyNode);
        return String(resolved.value);
      case FLOAT:
        return goFormatFloatKey(resolved.value as number);
      default:
        return String(resolved.value);
    }
  }

  /** decode.go mapping(): pairs in order; `<<` merges in place; a later key wins. */
  #mapInto(node: { items: Array<{ key: unknown; value: unknown }> }, out: Record<string, unknown>, merging: boolean) {
    const where = this.positions.get(out)!;
    const seen = new Set<string>();
    for (const pair of node.items) {
      if (isMergeKey(pair.key)) {
        this.#merge(pair.value, out);
        continue;
      }
      const key = this.#key(pair.key);
      const value = this.node(pair.value);
      if (!merging && seen.has(key))
        this.warnings.push({
          message: `duplicate key ${JSON.stringify(key)}: the later value is used, as kubectl does`,
          ...optionalOffset(offsetOf(pair.key)),
        });
      // defineProperty: a key such as "__proto__" is data here, never a prototype.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      seen.add(key);
      const at = offsetOf(pair.key);
      if (at !== undefined) where.set(key, at);
    }
  }

  #merge(value: unknown, out: Record<string, unknown>): void {
    this.#count();
    const wantMap = () =>
      new KubectlYamlError('map merge requires map or sequence of maps as the value', offsetOf(value));
    const mergeOne = (item: unknown) => {
      if (isAlias(item)) {
        this.#alias(item, (target) => {
          if (!isMap(target)) throw wantMap();
          this.#mapInto(target, out, true);
        });
      } else if (isMap(item)) this.#mapInto(item, out, true);
      else throw wantMap();
    };
    if (isSeq(value)) {
      // Earlier maps take precedence, so they are applied last.
      for (const item of [...value.items].reverse()) mergeOne(item);
    } else mergeOne(value);
  }
}

function isMergeKey(key: unknown): boolean {
  if (!isScalar(key) || key.value !== '<<') return false;
  return (key.tag === undefined && key.type === 'PLAIN') || key.tag === '!' || key.tag === MERGE;
}

function unsupportedKey(type: string, node: unknown): KubectlYamlError {
  return new KubectlYamlError(`unsupported map key of type: ${type}`, offsetOf(node));
}

/** Go's base64.StdEncoding.DecodeString (padding required; CR and LF ignored), as a string. */
function decodeBinary(text: string): string {
  const clean = text.replace(/[\r\n]/g, '');
  if (!/^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(clean))
    throw new KubectlYamlError('!!binary value contains invalid base64 data');
  return new TextDecoder('utf-8').decode(Buffer.from(clean, 'base64'));
}

function offsetOf(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

function optionalOffset(offset: number | undefined): { offset?: number } {
  return offset === undefined ? {} : { offset };
}

/** A document's position lookup over the values the decoder built. */
function positionLookup(
  value: unknown,
  positions: Positions,
  lineAt: (offset: number) => number,
  firstLine: number | undefined,
): KubectlDocument['lineOf'] {
  return (segments) => {
    let node = value;
    let line = firstLine;
    for (const segment of segments) {
      if (node === null || typeof node !== 'object') break;
      const at = positions.get(node)?.get(segment);
      if (at === undefined) break;
      line = lineAt(at);
      node = (node as Record<string | number, unknown>)[segment];
    }
    return line;
  };
}

/** kubectl's YAMLReader: documents split at lines that start with "---". */
function splitDocuments(text: string): { chunks: Array<{ text: string; start: number }>; error?: KubectlYamlError } {
  const chunks: Array<{ text: string; start: number }> = [];
  let buffer: string[] = [];
  let offset = 0;
  let bufferStart = 0;
  const lines = text.split('\n');
  // A final newline ends the last line; it does not start another one.
  if (lines.at(-1) === '') lines.pop();
  for (const raw of lines) {
    // bufio.ReadLine drops the "\r" of a "\r\n" line end.
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith('---')) {
      const rest = line.slice(3).trim();
      if (rest.length > 0 && !rest.startsWith('#'))
        return { chunks, error: new KubectlYamlError(`invalid Yaml document separator: ${rest}`, offset) };
      if (buffer.length > 0) chunks.push({ text: buffer.join(''), start: bufferStart });
      buffer = [];
      bufferStart = offset + raw.length + 1;
    } else {
      if (buffer.length === 0) bufferStart = offset;
      buffer.push(`${line}\n`);
    }
    offset += raw.length + 1;
  }
  if (buffer.length > 0) chunks.push({ text: buffer.join(''), start: bufferStart });
  return { chunks };
}

/** End offset of the JSON value that starts at `from` (after whitespace), or -1. */
function jsonValueEnd(text: string, from: number): number {
  let i = from;
  let depth = 0;
  let inString = false;
  for (; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      if (depth === 0 && !inString) return i + 1;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
      if (depth < 0) return -1;
    } else if (depth === 0 && /\s/.test(c!)) {
      if (i > from) return i;
    } else if (depth === 0 && (c === ',' || c === ':')) return -1;
  }
  return depth === 0 && i > from ? i : -1;
}

/**
 * Offset where flow collections ("[", "{") nest deeper than MAX_DEPTH, or -1. A quick upper
 * bound (brackets inside plain scalars count too), so that a text like "[[[[..." is refused
 * before the parser recurses through it (the yaml package runs out of stack, slowly). Block
 * nesting needs no check: it costs indentation, and a manifest is at most 1.5 MiB.
 */
function tooDeep(text: string): number {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== '') {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') {
      if (++depth > MAX_DEPTH) return i;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return -1;
}

/** Every document of a manifest as kubectl reads it, empty and null ones left out. */
export function parseAsKubectl(text: string): KubectlDocument[] {
  const counter = new LineCounter();
  counter.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) counter.addNewLine(i + 1);
  const lineAt = (offset: number) => counter.linePos(offset).line;
  const deep = tooDeep(text);
  if (deep >= 0) return [failed(`exceeded max depth of ${MAX_DEPTH}`, lineAt(deep))];
  const out: KubectlDocument[] = [];
  let yamlFrom = 0;
  if (/^\s*\{/.test(text)) {
    // json.Decoder over the stream; on a failure with at most one object read, kubectl falls
    // back to YAML for the rest (a flow mapping is YAML too).
    let at = 0;
    let count = 0;
    for (;;) {
      const start = text.slice(at).search(/\S/);
      if (start < 0) return out;
      const from = at + start;
      const end = jsonValueEnd(text, from);
      let value: unknown;
      let ok = end > 0;
      if (ok) {
        try {
          value = JSON.parse(text.slice(from, end));
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        if (count > 1) {
          out.push(failed(`invalid JSON in document ${count + 1}`, lineAt(from)));
          return out;
        }
        yamlFrom = from;
        break;
      }
      count++;
      if (value !== null) out.push(jsonDocument(text.slice(from, end), value, lineAt(from) - 1));
      at = end;
    }
  }
  const { chunks, error } = splitDocuments(text.slice(yamlFrom));
  for (const chunk of chunks) out.push(...yamlDocument(chunk.text, yamlFrom + chunk.start, lineAt));
  if (error !== undefined) out.push(failed(error.message, lineAt(yamlFrom + (error.offset ?? 0))));
  return out;
}

function failed(message: string, line?: number): KubectlDocument {
  return { error: { message, ...(line === undefined ? {} : { line }) }, warnings: [], lineOf: () => line };
}

function yamlDocument(chunk: string, base: number, lineAt: (offset: number) => number): KubectlDocument[] {
  let doc: Document;
  try {
    // go-yaml reads the first document of a chunk and ignores what follows a "..." end marker.
    const parsed = parseAllDocuments(chunk, {
      schema: 'failsafe',
      version: '1.1',
      uniqueKeys: false,
      prettyErrors: false,
    });
    const first = Array.isArray(parsed) ? parsed[0] : undefined;
    if (first === undefined) return [];
    doc = first as Document;
  } catch (error) {
    const message = error instanceof RangeError ? `exceeded max depth of ${MAX_DEPTH}` : (error as Error).message;
    return [failed(message, lineAt(base))];
  }
  const syntax = doc.errors[0];
  // The yaml package recurses through flow collections and gives up after a few hundred levels,
  // where go-yaml goes to 10000. The verdict is the same for an experiment (its schema nests a
  // few levels, with no free-form field, so deeper data is refused anyway); only the words differ.
  if (syntax?.code === 'RESOURCE_EXHAUSTION')
    return [
      failed(
        'nested deeper than this reader follows (no field of an experiment nests more than a few levels)',
        lineAt(base + syntax.pos[0]),
      ),
    ];
  if (syntax !== undefined)
    return [failed(`YAML syntax error: ${syntax.message.split('\n')[0]}`, lineAt(base + syntax.pos[0]))];
  const decoder = new Decoder(doc);
  let value: unknown;
  try {
    value = decoder.node(doc.contents);
  } catch (error) {
    if (error instanceof KubectlYamlError)
      return [failed(error.message, error.offset === undefined ? lineAt(base) : lineAt(base + error.offset))];
    if (error instanceof RangeError) return [failed(`exceeded max depth of ${MAX_DEPTH}`, lineAt(base))];
    throw error;
  }
  if (value === null) return [];
  const contents = doc.contents as { range?: [number, number, number] } | null;
  const firstLine = contents?.range === undefined ? undefined : lineAt(base + contents.range[0]);
  return [
    {
      value,
      warnings: decoder.warnings.map((w) => ({
        message: w.message,
        ...(w.offset === undefined ? {} : { line: lineAt(base + w.offset) }),
      })),
      lineOf: positionLookup(value, decoder.positions, (offset) => lineAt(base + offset), firstLine),
    },
  ];
}

/** A JSON document: values from JSON.parse, lines from reading the same text as YAML. */
function jsonDocument(json: string, value: unknown, lineOffset: number): KubectlDocument {
  const lines = new LineCounter();
  let doc: Document | undefined;
  try {
    doc = parseAllDocuments(json, { lineCounter: lines, uniqueKeys: false })[0] as Document | undefined;
  } catch {
    doc = undefined;
  }
  return {
    value,
    warnings: [],
    lineOf(segments) {
      let node: unknown = doc?.contents;
      let offset = offsetOf(node);
      for (const segment of segments) {
        if (isMap(node)) {
          const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
          if (pair === undefined) break;
          offset = offsetOf(pair.key) ?? offset;
          node = pair.value;
        } else if (isSeq(node) && typeof segment === 'number') {
          node = node.items[segment];
          offset = offsetOf(node) ?? offset;
        } else break;
      }
      return offset === undefined ? undefined : lines.linePos(offset).line + lineOffset;
    },
  };
}
