// Durations ("30s", "5ms", "2m") and Kubernetes resource quantities ("500m", "1Gi", "2").
//
// Both grammars are the ones the API server applies: the schema patterns in schema.ts gate what
// a manifest may contain (the same patterns go into the CRD), and the numbers come from
// well-kept parsers: `ms` for durations and client-node's own quantity helpers for quantities.
// The pattern check comes first so that the CLI never accepts something the API server rejects
// (`ms` alone would take "2 days" or "-1s"; client-node alone would take "1.2.3").
import { findSuffix, quantityToScalar } from '@kubernetes/client-node/dist/util.js';
import ms from 'ms';
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

/** Milliseconds in a duration such as "30s", "250ms", "1.5m" or "2h". Throws UnitError. */
export function parseDurationMillis(text: unknown): number {
  if (typeof text !== 'string') throw new UnitError(text, `is ${typeName(text)}, not a string`, DURATION_ALLOWED);
  if (!durationRegExp.test(text)) throw new UnitError(text, 'is not a duration', DURATION_ALLOWED);
  const millis = ms(text as ms.StringValue);
  // The pattern admits nothing `ms` rejects, but a NaN must never reach a timer.
  if (!Number.isFinite(millis)) throw new UnitError(text, 'is not a duration', DURATION_ALLOWED);
  return millis;
}

// Suffixes whose factor client-node computes with BigInt, which refuses a fractional number
// ("1.5Gi"); Kubernetes accepts those, so the factor is taken from client-node and applied here.
const BIG_SUFFIXES = new Set(['k', 'M', 'G', 'T', 'P', 'E', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei']);

/**
 * The value of a Kubernetes quantity in base units: cores for CPU ("500m" -> 0.5), bytes for
 * memory ("1Ki" -> 1024). Throws UnitError.
 */
export function parseQuantity(text: unknown): number {
  if (typeof text !== 'string') {
    const hint = typeof text === 'number' ? ` (write it quoted: "${text}")` : '';
    throw new UnitError(text, `is ${typeName(text)}, not a string${hint}`, QUANTITY_ALLOWED);
  }
  if (!quantityRegExp.test(text)) throw new UnitError(text, 'is not a Kubernetes quantity', QUANTITY_ALLOWED);
  const suffix = findSuffix(text);
  let value: number;
  if (BIG_SUFFIXES.has(suffix)) {
    const factor = Number(quantityToScalar(`1${suffix}`));
    value = Number(text.slice(0, text.length - suffix.length)) * factor;
  } else {
    value = Number(quantityToScalar(text));
  }
  if (!Number.isFinite(value)) throw new UnitError(text, 'is not a Kubernetes quantity', QUANTITY_ALLOWED);
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
