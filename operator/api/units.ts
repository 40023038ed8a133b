// Durations ("30s", "5ms", "2m") and Kubernetes resource quantities ("500m", "1Gi", "2").
//
// Both grammars are the ones the API server applies: the schema patterns in schema.ts gate what
// a manifest may contain (the same patterns go into the CRD), and the numbers are computed the
// way the API server's CEL computes them, so a bound checked here and by a CEL rule gives one
// verdict: durations as Go's time.ParseDuration reads them (whole nanoseconds, an error past
// int64), quantities as exact decimals (resource.Quantity compares exactly; "1e1000" is a valid
// quantity, larger than any bound, not an infinity).
import { DURATION_PATTERN, QUANTITY_PATTERN } from './schema.ts';

/** A value that is not a valid duration or quantity; `problem` and `allowed` read as one line. */
export class UnitError extends Error {
  readonly value: unknown;
  readonly problem: string;
  readonly allowed: string;
  constructor(value: unknown, problem: string, allowed: string) {
    super(`${formatValue(value)} ${problem}; allowed: ${allowed}`);
    this.name = 'UnitError';
    this.value = value;
    this.problem = problem;
    this.allowed = allowed;
  }
}

export const DURATION_ALLOWED = 'a duration: a number followed by ms, s, m or h, such as "500ms", "30s" or "2m"';
export const QUANTITY_ALLOWED =
  'a Kubernetes quantity as a string: a number with an optional suffix m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei, such as "500m", "2" or "512Mi"';

const durationRegExp = new RegExp(DURATION_PATTERN);
const quantityRegExp = new RegExp(QUANTITY_PATTERN);

const NANOS_PER_UNIT: Record<string, bigint> = {
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const INT64_LIMIT = 1n << 63n;

/**
 * Nanoseconds in a duration such as "30s" or "1.5m", computed as Go's time.ParseDuration
 * computes them (the fraction through float64, truncated), which is what CEL's duration()
 * does on the API server. Undefined for a value past Go's range (about 2,562,047 hours).
 */
function goDurationNanos(text: string): bigint | undefined {
  const match = /^([0-9]+)(?:\.([0-9]*))?(ms|s|m|h)$/.exec(text);
  if (match === null) return undefined;
  const [, whole = '', fraction = '', unitName = ''] = match;
  const unit = NANOS_PER_UNIT[unitName]!;
  let v = 0n;
  for (const c of whole) {
    if (v > INT64_LIMIT / 10n) return undefined;
    v = v * 10n + BigInt(c.charCodeAt(0) - 48);
    if (v > INT64_LIMIT) return undefined;
  }
  // leadingFraction: digits past int64 precision are dropped, as Go drops them.
  let f = 0n;
  let scale = 1;
  for (const c of fraction) {
    const next = f * 10n + BigInt(c.charCodeAt(0) - 48);
    if (f > (INT64_LIMIT - 1n) / 10n || next > INT64_LIMIT) break;
    f = next;
    scale *= 10;
  }
  if (v > INT64_LIMIT / unit) return undefined;
  v *= unit;
  if (f > 0n) {
    v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
    if (v > INT64_LIMIT) return undefined;
  }
  return v < INT64_LIMIT ? v : undefined;
}

/**
 * Whole nanoseconds in a duration such as "30s", "250ms", "1.5m" or "2h", as the API server
 * reads it. Throws UnitError, also for a duration too long for Go (and so for CEL).
 */
export function parseDurationNanos(text: unknown): bigint {
  if (typeof text !== 'string') throw new UnitError(text, `is ${typeName(text)}, not a string`, DURATION_ALLOWED);
  if (!durationRegExp.test(text)) throw new UnitError(text, 'is not a duration', DURATION_ALLOWED);
  const nanos = goDurationNanos(text);
  if (nanos === undefined) throw new UnitError(text, 'is too long to be a duration', 'at most 2562047h');
  return nanos;
}

/** Milliseconds in a duration such as "30s", "250ms", "1.5m" or "2h". Throws UnitError. */
export function parseDurationMillis(text: unknown): number {
  return Number(parseDurationNanos(text)) / 1e6;
}

/** A quantity as an exact number: mantissa x 10^exp10 x 2^exp2. */
interface ExactQuantity {
  mantissa: bigint;
  exp10: bigint;
  exp2: number;
}

const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/**
 * The exact value of a quantity string as resource.ParseQuantity makes it, or undefined when
 * it refuses the string. Its quirks are kept, since the API server's quantity() has them too:
 * a decimal exponent is read as int64 and then cut to int32, and a value with digits finer
 * than a nano-unit is rounded up, away from zero ("9.9999999999m" is 10m).
 */
function exactQuantity(text: string): ExactQuantity | undefined {
  if (!quantityRegExp.test(text)) return undefined;
  const match = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(text);
  if (match === null) return undefined;
  const [, sign = '', whole = '', fraction = '', suffix = ''] = match;
  let exp10 = BigInt(-fraction.length);
  let exp2 = 0;
  if (suffix in BINARY_SUFFIX) exp2 = BINARY_SUFFIX[suffix]!;
  else if (suffix in DECIMAL_SUFFIX) exp10 += BigInt(DECIMAL_SUFFIX[suffix]!);
  else if (/^[eE][+-]?[0-9]+$/.test(suffix)) {
    const exponent = BigInt(suffix.slice(1));
    if (exponent >= INT64_LIMIT || exponent < -INT64_LIMIT) return undefined;
    exp10 += BigInt.asIntN(32, exponent);
  }
  // The CRD pattern admits a fractional exponent ("1e1.5"); Kubernetes does not.
  else return undefined;
  const digits = `${whole}${fraction}`.replace(/^0+(?=.)/, '');
  let magnitude = BigInt(digits === '' ? '0' : digits);
  if (magnitude !== 0n && exp10 < -9n) {
    // Round up to whole nano-units: magnitude x 2^exp2 / 10^shift, rounded away from zero.
    const shift = -9n - exp10;
    const numerator = magnitude * 2n ** BigInt(exp2);
    magnitude = shift > 80n ? 1n : (numerator + 10n ** shift - 1n) / 10n ** shift;
    exp10 = -9n;
    exp2 = 0;
  }
  return { mantissa: sign === '-' ? -magnitude : magnitude, exp10, exp2 };
}

/** -1, 0 or 1 as a is less than, equal to or more than b, exactly. */
function compareExact(a: ExactQuantity, b: ExactQuantity): number {
  const signOf = (q: ExactQuantity) => (q.mantissa > 0n ? 1 : q.mantissa < 0n ? -1 : 0);
  const [sa, sb] = [signOf(a), signOf(b)];
  if (sa !== sb || sa === 0) return Math.sign(sa - sb);
  // Orders of magnitude far apart decide without big powers ("1e1000" against "64").
  const log10 = (q: ExactQuantity) =>
    (q.mantissa < 0n ? -q.mantissa : q.mantissa).toString().length + Number(q.exp10) + q.exp2 * Math.LOG10E * Math.LN2;
  const gap = log10(a) - log10(b);
  if (Math.abs(gap) > 4) return gap > 0 ? sa : -sa;
  // biome-ignore lint/complexity/useMathMinMax: Math.min does not take bigints.
  const e10 = a.exp10 < b.exp10 ? a.exp10 : b.exp10;
  const e2 = Math.min(a.exp2, b.exp2);
  const scaled = (q: ExactQuantity) => q.mantissa * 10n ** (q.exp10 - e10) * 2n ** BigInt(q.exp2 - e2);
  const [x, y] = [scaled(a), scaled(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Compares two quantities exactly, as resource.Quantity.Cmp (CEL's quantity().compareTo()) does.
 * Throws UnitError for a value that is not a quantity.
 */
export function compareQuantities(a: unknown, b: unknown): number {
  return compareExact(exactOrThrow(a), exactOrThrow(b));
}

function exactOrThrow(text: unknown): ExactQuantity {
  if (typeof text !== 'string') {
    const hint = typeof text === 'number' ? ` (write it quoted: "${text}")` : '';
    throw new UnitError(text, `is ${typeName(text)}, not a string${hint}`, QUANTITY_ALLOWED);
  }
  const exact = exactQuantity(text);
  if (exact === undefined) throw new UnitError(text, 'is not a Kubernetes quantity', QUANTITY_ALLOWED);
  return exact;
}

/** Whether a string is a quantity Kubernetes accepts (CEL's isQuantity()). */
export function isQuantity(text: unknown): boolean {
  return typeof text === 'string' && exactQuantity(text) !== undefined;
}

/**
 * The value of a Kubernetes quantity in base units: cores for CPU ("500m" -> 0.5), bytes for
 * memory ("1Ki" -> 1024). Throws UnitError, also for a quantity too large for a number.
 */
export function parseQuantity(text: unknown): number {
  const { mantissa, exp10, exp2 } = exactOrThrow(text);
  // Through a decimal string, so "10m" is exactly the double nearest 0.01.
  const value = Number(`${mantissa}e${exp10}`) * 2 ** exp2;
  if (!Number.isFinite(value)) throw new UnitError(text, 'is too large', 'a quantity within the bounds of its field');
  return value;
}

/** CPU cores in a CPU quantity ("500m" -> 0.5, "2" -> 2). Throws UnitError. */
export function parseCpuCores(text: unknown): number {
  return parseQuantity(text);
}

/** Bytes in a memory quantity ("512Mi" -> 536870912), rounded up to a whole byte as Kubernetes does. */
export function parseMemoryBytes(text: unknown): number {
  return Math.ceil(parseQuantity(text));
}

/** A value as it appears in a one-line problem: strings quoted, long values shortened. */
export function formatValue(value: unknown): string {
  if (value === undefined) return '(not set)';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value !== null && typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** "a string", "a number", "a list", "a mapping", "null", ... for type problems. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'string') return 'a string';
  return typeof value;
}
