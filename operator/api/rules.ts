// The rules of a ConcurrencyExperiment beyond types: bounds of fields and rules across fields.
//
// Each rule is written twice on purpose: as a CEL expression that crd.ts puts into the CRD
// (`x-kubernetes-validations`, so the API server enforces it) and as the same check in
// TypeScript, so `conclab validate` and `conclab run` reject exactly what the API server
// rejects without needing one. test/api/rules.test.ts runs both on the same table of specs, and
// test/api/apiserver.test.ts runs the table and hostile manifests through a real API server.
//
// Bounds come from schema.ts (DURATION_BOUNDS and QUANTITY_BOUNDS on a field) and become one
// rule per field, attached to the field itself, so the API server names the field. The
// cross-field rules are written out below.
//
// The TypeScript checks run on specs that may also have schema errors (all problems are
// reported at once), so they read fields defensively and stay silent about anything the schema
// already reports (a duration that does not parse, a missing list). The CEL rules are guarded
// the same way: a value that fails the field's pattern is left to the pattern's own error, and
// duration() is only called on a string Go can parse without overflow (SAFE_DURATION), since
// a CEL rule that errors would add a second, cryptic message ("type conversion error").
//
// CEL cost: every list the rules iterate has maxItems and every string maxLength in the
// schema, which keeps the API server's cost estimate bounded (the worst, fault variants
// against variants, is 8 x 16 x 8 string comparisons of at most 40 characters).
import { CronExpressionParser } from 'cron-parser';
import {
  ConcurrencyExperimentSpec,
  DURATION_BOUNDS,
  DURATION_PATTERN,
  type DurationBounds,
  MAX_SWEEP_POINTS,
  MEMORY_TO_START,
  QUANTITY_BOUNDS,
  QUANTITY_PATTERN,
  type QuantityBounds,
  SWEEP_CPU_PATTERN,
} from './schema.ts';
import { compareQuantities, isQuantity, parseDurationNanos } from './units.ts';

/** One broken rule, located at a field of the manifest. */
export interface Violation {
  /** Field path in the manifest, such as `spec.variants[1].name`. */
  path: string;
  /** The offending value; undefined when the field is missing. */
  value: unknown;
  /** What is wrong with the value, such as `is also the name of spec.variants[0]`. */
  problem: string;
  /** What would be accepted instead. */
  allowed: string;
}

/**
 * Schema node a CEL rule is attached to, as a dotted path from the object root with `[]` for
 * the items of a list (`spec.load.stages[].duration`); `self` is that node.
 */
export type RuleScope = string;

/** A rule enforced by the API server (CEL) and by the CLI (check), identically. */
export interface CelRule {
  /** Stable name, used in tests. */
  id: string;
  /** Schema node the CEL rule is attached to; `self` is that node. */
  scope: RuleScope;
  /** CEL expression that is true when the node is valid. */
  rule: string;
  /** Message the API server returns when the rule fails (and the README lists). */
  message: string;
  /** CEL expression for the message, when it names the value (then `message` is the fallback). */
  messageExpression?: string;
  /** Field the API server blames, relative to the scope (`.rate`). */
  fieldPath?: string;
  /** Kind of error the API server reports. */
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
  /** The same rule in TypeScript, on the spec after defaults. */
  check(spec: unknown): Violation[];
}

/** A rule that CEL cannot express well; checked by the CLI only (and by the operator on admission). */
export interface CliRule {
  id: string;
  description: string;
  check(spec: unknown): Violation[];
}

type Fields = Record<string, unknown>;
type JsonSchema = Record<string, unknown>;

function fields(value: unknown): Fields | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A string as a CEL string literal. */
function cel(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/**
 * Durations CEL's duration() can read without overflowing Go's int64 nanoseconds: up to 9
 * digits of ms or s, 7 of m, 6 of h (leading zeros aside). Every bound in the schema is far
 * below where this stops (11 days in ms), so within bounds the two agree.
 */
export const SAFE_DURATION_PATTERN =
  '^0*([0-9]{1,9}(\\.[0-9]+)?(ms|s)|[0-9]{1,7}(\\.[0-9]+)?m|[0-9]{1,6}(\\.[0-9]+)?h)$';
const safeDuration = new RegExp(SAFE_DURATION_PATTERN);
const durationPattern = new RegExp(DURATION_PATTERN);

/** CEL: whether duration(expr) can be called. */
function celDurationOk(expr: string): string {
  return `${expr}.matches(${cel(SAFE_DURATION_PATTERN)})`;
}

/** Nanoseconds of a duration that CEL's duration() reads, or undefined (left to other checks). */
function nanosOrUndefined(value: unknown): bigint | undefined {
  if (typeof value !== 'string' || !safeDuration.test(value)) return undefined;
  try {
    return parseDurationNanos(value);
  } catch {
    return undefined;
  }
}

/** "1.5s" from nanoseconds, for messages. */
function formatNanos(nanos: bigint): string {
  if (nanos % 1_000_000n !== 0n) return `${Number(nanos) / 1e6}ms`;
  const millis = nanos / 1_000_000n;
  if (millis < 1000n || millis % 1000n !== 0n) return `${millis}ms`;
  return `${Number(millis) / 1000}s`;
}

const RAMPING = 'ramping-arrival-rate';
const CPU_PROFILES = ['cpu', 'mixed', 'shared-state'];
const IO_PROFILES = ['io', 'mixed'];

/** The load pattern after defaults (the schema default is constant-arrival-rate). */
function patternOf(load: Fields | undefined): unknown {
  return load?.['pattern'] ?? 'constant-arrival-rate';
}

/** Nanoseconds of measured load that a fault must fall into, or undefined if unknown. */
function measuredNanos(load: Fields | undefined): bigint | undefined {
  if (patternOf(load) !== RAMPING) return nanosOrUndefined(load?.['duration'] ?? '30s');
  const stages = load?.['stages'];
  if (!Array.isArray(stages)) return undefined;
  let total = 0n;
  for (const stage of stages) {
    const nanos = nanosOrUndefined(fields(stage)?.['duration']);
    if (nanos === undefined) return undefined;
    total += nanos;
  }
  return total;
}

/** Every value at a scope such as `spec.load.stages[].duration`, with its concrete path. */
export function valuesAt(root: unknown, scope: RuleScope): Array<{ path: string; value: unknown }> {
  let found: Array<{ path: string; value: unknown }> = [{ path: '', value: root }];
  for (const part of scope.split('.')) {
    const name = part.endsWith('[]') ? part.slice(0, -2) : part;
    const next: Array<{ path: string; value: unknown }> = [];
    for (const { path, value } of found) {
      const object = fields(value);
      if (object === undefined || !Object.hasOwn(object, name)) continue;
      const child = object[name];
      const childPath = path === '' ? name : `${path}.${name}`;
      if (!part.endsWith('[]')) next.push({ path: childPath, value: child });
      else for (const [i, item] of list(child).entries()) next.push({ path: `${childPath}[${i}]`, value: item });
    }
    found = next;
  }
  return found;
}

/** Schema nodes below `schema` that carry `keyword`, with their scopes. */
function boundedFields(schema: JsonSchema, scope: string, keyword: string): Array<{ scope: string; node: JsonSchema }> {
  const out: Array<{ scope: string; node: JsonSchema }> = [];
  if (schema[keyword] !== undefined) out.push({ scope, node: schema });
  const properties = schema['properties'] as Record<string, JsonSchema> | undefined;
  for (const [name, child] of Object.entries(properties ?? {})) {
    if (child['type'] === 'array')
      out.push(...boundedFields(child['items'] as JsonSchema, `${scope}.${name}[]`, keyword));
    else out.push(...boundedFields(child, `${scope}.${name}`, keyword));
  }
  return out;
}

// The most any duration bound may be: far inside SAFE_DURATION_PATTERN's reach.
const MAX_DURATION_BOUND = 10n * 24n * 3_600_000_000_000n;

/** The rule of one duration field: from min to max inclusive. */
function durationBoundRule(scope: string, bounds: DurationBounds): CelRule {
  const min = parseDurationNanos(bounds.min);
  const max = parseDurationNanos(bounds.max);
  if (max > MAX_DURATION_BOUND) throw new Error(`${scope}: bound ${bounds.max} is past what CEL rules here can read`);
  const allowed = `${bounds.min} to ${bounds.max}`;
  const inRange = `duration(self) >= duration(${cel(bounds.min)}) && duration(self) <= duration(${cel(bounds.max)})`;
  return {
    id: `duration-bounds:${scope}`,
    scope,
    rule: `!self.matches(${cel(DURATION_PATTERN)}) || (${celDurationOk('self')} && ${inRange})`,
    message: `must be a duration from ${allowed}`,
    messageExpression: `self + (${celDurationOk('self')} && duration(self) < duration(${cel(bounds.min)}) ? ' is too short' : ' is too long') + ${cel(`; allowed: ${allowed}`)}`,
    check(spec) {
      const out: Violation[] = [];
      for (const { path, value } of valuesAt({ spec }, scope)) {
        if (typeof value !== 'string' || !durationPattern.test(value)) continue;
        const nanos = nanosOrUndefined(value);
        if (nanos !== undefined && nanos >= min && nanos <= max) continue;
        const problem = nanos !== undefined && nanos < min ? 'is too short' : 'is too long';
        out.push({ path, value, problem, allowed: `a duration from ${allowed}` });
      }
      return out;
    },
  };
}

const quantityPattern = new RegExp(QUANTITY_PATTERN);
const sweepCpuPattern = new RegExp(SWEEP_CPU_PATTERN);

/** The rule of one quantity field: a quantity Kubernetes reads, from min to max inclusive. */
function quantityBoundRule(scope: string, bounds: QuantityBounds): CelRule {
  const allowed = `${bounds.min} to ${bounds.max}${bounds.unit === undefined ? '' : ` ${bounds.unit}`}`;
  const atLeast = `quantity(self).compareTo(quantity(${cel(bounds.min)})) >= 0`;
  const atMost = `quantity(self).compareTo(quantity(${cel(bounds.max)})) <= 0`;
  return {
    id: `quantity-bounds:${scope}`,
    scope,
    rule: `!self.matches(${cel(QUANTITY_PATTERN)}) || (isQuantity(self) && ${atLeast} && ${atMost})`,
    message: `must be a quantity from ${allowed}`,
    messageExpression: `self + (!isQuantity(self) ? ' is not a Kubernetes quantity' : quantity(self).compareTo(quantity(${cel(bounds.min)})) < 0 ? ' is too small' : ' is too large') + ${cel(`; allowed: ${allowed}`)}`,
    check(spec) {
      const out: Violation[] = [];
      for (const { path, value } of valuesAt({ spec }, scope)) {
        if (typeof value !== 'string' || !quantityPattern.test(value)) continue;
        if (!isQuantity(value)) {
          out.push({ path, value, problem: 'is not a Kubernetes quantity', allowed: `a quantity from ${allowed}` });
          continue;
        }
        if (compareQuantities(value, bounds.min) < 0)
          out.push({ path, value, problem: 'is too small', allowed: `a quantity from ${allowed}` });
        else if (compareQuantities(value, bounds.max) > 0)
          out.push({ path, value, problem: 'is too large', allowed: `a quantity from ${allowed}` });
      }
      return out;
    },
  };
}

/** One rule per bounded field of the spec, in schema order. */
function boundRules(): CelRule[] {
  const spec = ConcurrencyExperimentSpec as unknown as JsonSchema;
  return [
    ...boundedFields(spec, 'spec', DURATION_BOUNDS).map(({ scope, node }) =>
      durationBoundRule(scope, node[DURATION_BOUNDS] as DurationBounds),
    ),
    ...boundedFields(spec, 'spec', QUANTITY_BOUNDS).map(({ scope, node }) =>
      quantityBoundRule(scope, node[QUANTITY_BOUNDS] as QuantityBounds),
    ),
  ];
}

const LATENCY_ORDER = ['p50', 'p90', 'p99', 'p999'] as const;

/** CEL: latency bound `high` is not below `low`, when both are set and readable. */
function celNotBelow(low: string, high: string): string {
  const [a, b] = [`self.${low}`, `self.${high}`];
  return `(!has(${a}) || !has(${b}) || !${celDurationOk(a)} || !${celDurationOk(b)} || duration(${a}) <= duration(${b}))`;
}

/** CEL: the memory (MiB) variant `v` needs to start with `w` workers, by runtime and model (schema.ts). */
function celMemoryToStart(): string {
  const of = (runtime: keyof typeof MEMORY_TO_START) => {
    const t = MEMORY_TO_START[runtime];
    const need = (m: keyof typeof t) => `${t[m].baseMi} + ${t[m].perWorkerMi} * w`;
    return `(v.model == 'process' ? ${need('process')} : v.model == 'thread' ? ${need('thread')} : ${need('offload')})`;
  };
  return `(self.workload.runtime == 'python' ? ${of('python')} : ${of('node')})`;
}

// Five cron fields with values in range, as a Kubernetes CronJob takes them (no @daily, ? or L).
function cronField(value: string): string {
  const item = `(\\*|(${value})(-(${value}))?)(/[1-9][0-9]*)?`;
  return `${item}(,${item})*`;
}
function names(...words: string[]): string {
  return words.map((w) => [...w].map((c) => `[${c.toUpperCase()}${c.toLowerCase()}]`).join('')).join('|');
}
export const CRON_PATTERN = `^\\s*${[
  cronField('[0-5]?[0-9]'),
  cronField('[01]?[0-9]|2[0-3]'),
  cronField('0?[1-9]|[12][0-9]|3[01]'),
  cronField(
    `0?[1-9]|1[0-2]|${names('jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec')}`,
  ),
  cronField(`[0-7]|${names('sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat')}`),
].join('\\s+')}\\s*$`;
const cronPattern = new RegExp(CRON_PATTERN);
const CRON_ALLOWED = 'a five-field cron expression (minute hour day-of-month month day-of-week), such as "0 3 * * 1"';

/** The rules across fields, each a CEL rule and its TypeScript twin. */
const CROSS_FIELD_RULES: readonly CelRule[] = [
  {
    id: 'unique-variant-names',
    scope: 'spec.variants',
    rule: 'self.all(v, self.exists_one(w, w.name == v.name))',
    // No reason FieldValueDuplicate: with it the API server prints "Duplicate value" and drops
    // the message (seen on v1.34).
    message: 'variant names must be unique',
    check(spec) {
      const out: Violation[] = [];
      const seen = new Map<unknown, number>();
      list(fields(spec)?.['variants']).forEach((variant, index) => {
        const name = fields(variant)?.['name'];
        if (typeof name !== 'string') return;
        const first = seen.get(name);
        if (first === undefined) seen.set(name, index);
        else
          out.push({
            path: `spec.variants[${index}].name`,
            value: name,
            problem: `is also the name of spec.variants[${first}]`,
            allowed: 'a name no other variant has (variant names must be unique)',
          });
      });
      return out;
    },
  },
  {
    id: 'rate-required',
    scope: 'spec.load',
    rule: "(has(self.pattern) && self.pattern == 'ramping-arrival-rate') || has(self.rate)",
    message: 'rate is required when pattern is constant-arrival-rate or max-throughput',
    fieldPath: '.rate',
    reason: 'FieldValueRequired',
    check(spec) {
      const load = fields(fields(spec)?.['load']);
      if (load === undefined || patternOf(load) === RAMPING || load['rate'] !== undefined) return [];
      return [
        {
          path: 'spec.load.rate',
          value: undefined,
          problem: 'is missing',
          allowed: `an arrival rate in requests per second, required when pattern is ${String(patternOf(load))}`,
        },
      ];
    },
  },
  {
    id: 'rate-not-with-ramping',
    scope: 'spec.load',
    rule: "!has(self.rate) || !has(self.pattern) || self.pattern != 'ramping-arrival-rate'",
    message: 'rate is not used when pattern is ramping-arrival-rate: the stages set the rate',
    fieldPath: '.rate',
    reason: 'FieldValueForbidden',
    check(spec) {
      const load = fields(fields(spec)?.['load']);
      if (load === undefined || patternOf(load) !== RAMPING || load['rate'] === undefined) return [];
      return [
        {
          path: 'spec.load.rate',
          value: load['rate'],
          problem: 'is not used when pattern is ramping-arrival-rate',
          allowed: 'no rate: the stages set the rate (start with a stage whose target is the starting rate)',
        },
      ];
    },
  },
  {
    id: 'stages-required-with-ramping',
    scope: 'spec.load',
    rule: "!has(self.pattern) || self.pattern != 'ramping-arrival-rate' || has(self.stages)",
    message: 'stages are required when pattern is ramping-arrival-rate',
    fieldPath: '.stages',
    reason: 'FieldValueRequired',
    check(spec) {
      const load = fields(fields(spec)?.['load']);
      if (load === undefined || patternOf(load) !== RAMPING || load['stages'] !== undefined) return [];
      return [
        {
          path: 'spec.load.stages',
          value: undefined,
          problem: 'is missing',
          allowed: 'a list of stages (duration, target), required when pattern is ramping-arrival-rate',
        },
      ];
    },
  },
  {
    id: 'stages-only-with-ramping',
    scope: 'spec.load',
    rule: "!has(self.stages) || (has(self.pattern) && self.pattern == 'ramping-arrival-rate')",
    message: 'stages are allowed only when pattern is ramping-arrival-rate',
    fieldPath: '.stages',
    reason: 'FieldValueForbidden',
    check(spec) {
      const load = fields(fields(spec)?.['load']);
      if (load === undefined || patternOf(load) === RAMPING || load['stages'] === undefined) return [];
      return [
        {
          path: 'spec.load.stages',
          value: load['stages'],
          problem: `is not used when pattern is ${String(patternOf(load))}`,
          allowed: 'stages only with pattern ramping-arrival-rate; use rate for the other patterns',
        },
      ];
    },
  },
  {
    id: 'generators-within-max-in-flight',
    scope: 'spec.load',
    // Each generator sends under maxInFlight / generators of the cap: at least one request each.
    rule: '!has(self.generators) || !has(self.maxInFlight) || self.generators <= self.maxInFlight',
    message: 'generators must not exceed maxInFlight: each generator keeps at least one request in flight',
    fieldPath: '.generators',
    check(spec) {
      const load = fields(fields(spec)?.['load']);
      const generators = load?.['generators'];
      const maxInFlight = load?.['maxInFlight'];
      if (typeof generators !== 'number' || typeof maxInFlight !== 'number' || generators <= maxInFlight) return [];
      return [
        {
          path: 'spec.load.generators',
          value: generators,
          problem: `is above maxInFlight (${maxInFlight}): each generator sends under maxInFlight / generators of the cap`,
          allowed: `at most ${maxInFlight} generators, or a larger maxInFlight`,
        },
      ];
    },
  },
  {
    id: 'fault-variants-exist',
    scope: 'spec',
    rule: '!has(self.faults) || self.faults.all(f, !has(f.variants) || f.variants.all(n, self.variants.exists(v, v.name == n)))',
    message: 'fault variants must name variants of this experiment',
    fieldPath: '.faults',
    check(spec) {
      const root = fields(spec);
      const names = list(root?.['variants']).map((variant) => fields(variant)?.['name']);
      const out: Violation[] = [];
      list(root?.['faults']).forEach((fault, f) => {
        list(fields(fault)?.['variants']).forEach((name, n) => {
          if (typeof name !== 'string' || names.includes(name)) return;
          out.push({
            path: `spec.faults[${f}].variants[${n}]`,
            value: name,
            problem: 'is not a variant of this experiment',
            allowed: `one of ${names.map((x) => JSON.stringify(x)).join(', ')}`,
          });
        });
      });
      return out;
    },
  },
  {
    id: 'fault-during-load',
    scope: 'spec',
    // The measured load is `duration` long, or the sum of the stages when ramping. `.sum()` on a
    // list of durations is from the Kubernetes CEL lists library.
    rule: `!has(self.faults) || self.faults.all(f, !${celDurationOk('f.at')} || (self.load.pattern == 'ramping-arrival-rate' && has(self.load.stages) ? !self.load.stages.all(s, ${celDurationOk('s.duration')}) || duration(f.at) < self.load.stages.map(s, duration(s.duration)).sum() : !${celDurationOk('self.load.duration')} || duration(f.at) < duration(self.load.duration)))`,
    message:
      'a fault must be injected before the measured load ends: at must be less than load.duration (or the sum of the stage durations)',
    fieldPath: '.faults',
    check(spec) {
      const root = fields(spec);
      const load = fields(root?.['load']);
      const end = measuredNanos(load);
      if (end === undefined) return [];
      const out: Violation[] = [];
      list(root?.['faults']).forEach((fault, f) => {
        const at = fields(fault)?.['at'];
        const atNanos = nanosOrUndefined(at);
        if (atNanos === undefined || atNanos < end) return;
        const what = patternOf(load) === RAMPING ? 'the sum of the stage durations' : 'load.duration';
        out.push({
          path: `spec.faults[${f}].at`,
          value: at,
          problem: `is not before the measured load ends (${formatNanos(end)})`,
          allowed: `a duration less than ${what}`,
        });
      });
      return out;
    },
  },
  {
    id: 'racy-updates-only-shared-state',
    scope: 'spec.workload',
    rule: "!has(self.racyUpdates) || !self.racyUpdates || (has(self.profile) && self.profile == 'shared-state')",
    message: 'racyUpdates is allowed only with profile shared-state',
    fieldPath: '.racyUpdates',
    reason: 'FieldValueForbidden',
    check(spec) {
      const workload = fields(fields(spec)?.['workload']);
      if (workload?.['racyUpdates'] !== true || (workload['profile'] ?? 'cpu') === 'shared-state') return [];
      return [
        {
          path: 'spec.workload.racyUpdates',
          value: true,
          problem: `is not used with profile ${String(workload['profile'] ?? 'cpu')}`,
          allowed: 'racyUpdates: true only with profile shared-state',
        },
      ];
    },
  },
  {
    id: 'cpu-time-positive',
    scope: 'spec.workload',
    rule: `!has(self.cpuTime) || (has(self.profile) && !(self.profile in ['cpu', 'mixed', 'shared-state'])) || !${celDurationOk('self.cpuTime')} || duration(self.cpuTime) > duration('0s')`,
    message: 'cpuTime must be more than 0 for the cpu, mixed and shared-state profiles',
    fieldPath: '.cpuTime',
    check(spec) {
      const workload = fields(fields(spec)?.['workload']);
      const profile = workload?.['profile'] ?? 'cpu';
      if (workload === undefined || !CPU_PROFILES.includes(profile as string)) return [];
      const value = workload['cpuTime'] ?? '5ms';
      if (nanosOrUndefined(value) !== 0n) return [];
      return [
        {
          path: 'spec.workload.cpuTime',
          value,
          problem: `is zero, so profile ${String(profile)} would do no work`,
          allowed: 'a duration more than 0, such as "5ms"',
        },
      ];
    },
  },
  {
    id: 'io-wait-positive',
    scope: 'spec.workload',
    rule: `!has(self.profile) || !(self.profile in ['io', 'mixed']) || (has(self.ioWait) && (!${celDurationOk('self.ioWait')} || duration(self.ioWait) > duration('0s')))`,
    message: 'ioWait must be more than 0 for the io and mixed profiles',
    fieldPath: '.ioWait',
    check(spec) {
      const workload = fields(fields(spec)?.['workload']);
      const profile = workload?.['profile'];
      if (workload === undefined || !IO_PROFILES.includes(profile as string)) return [];
      const value = workload['ioWait'] ?? '0ms';
      if (nanosOrUndefined(value) !== 0n) return [];
      return [
        {
          path: 'spec.workload.ioWait',
          value,
          problem: `is zero, so profile ${String(profile)} would wait for nothing`,
          allowed: 'a duration more than 0, such as "20ms"',
        },
      ];
    },
  },
  {
    id: 'stages-reach-a-rate',
    scope: 'spec.load',
    rule: '!has(self.stages) || self.stages.exists(s, s.target > 0)',
    message: 'the stages must reach an arrival rate above 0: give at least one stage a target of 1 or more',
    fieldPath: '.stages',
    check(spec) {
      const stages = fields(fields(spec)?.['load'])?.['stages'];
      if (!Array.isArray(stages) || stages.length === 0) return [];
      const targets = stages.map((stage) => fields(stage)?.['target']);
      if (targets.some((target) => typeof target !== 'number') || targets.some((target) => (target as number) > 0))
        return [];
      return [
        {
          path: 'spec.load.stages',
          value: stages,
          problem: 'has no stage with a target above 0, so no request would be sent',
          allowed: 'at least one stage with a target of 1 or more requests per second',
        },
      ];
    },
  },
  {
    id: 'stages-total-duration',
    scope: 'spec.load',
    rule: `!has(self.stages) || !self.stages.all(s, ${celDurationOk('s.duration')}) || self.stages.map(s, duration(s.duration)).sum() <= duration('24h')`,
    message: 'the stages may last at most 24h together',
    fieldPath: '.stages',
    check(spec) {
      const load = fields(fields(spec)?.['load']);
      if (!Array.isArray(load?.['stages'])) return [];
      const total = measuredNanos({ ...load, pattern: RAMPING });
      if (total === undefined || total <= parseDurationNanos('24h')) return [];
      return [
        {
          path: 'spec.load.stages',
          value: load['stages'],
          problem: `lasts ${formatNanos(total)} in total`,
          allowed: 'stages that last at most 24h together',
        },
      ];
    },
  },
  {
    id: 'slo-latency-ordered',
    scope: 'spec.slo.latency',
    rule: LATENCY_ORDER.flatMap((low, i) => LATENCY_ORDER.slice(i + 1).map((high) => celNotBelow(low, high))).join(
      ' && ',
    ),
    message: 'latency bounds must not decrease: p50 <= p90 <= p99 <= p999',
    check(spec) {
      const latency = fields(fields(fields(spec)?.['slo'])?.['latency']);
      if (latency === undefined) return [];
      for (const [i, low] of LATENCY_ORDER.entries()) {
        const lowNanos = nanosOrUndefined(latency[low]);
        if (lowNanos === undefined) continue;
        for (const high of LATENCY_ORDER.slice(i + 1)) {
          const highNanos = nanosOrUndefined(latency[high]);
          if (highNanos === undefined || highNanos >= lowNanos) continue;
          return [
            {
              path: `spec.slo.latency.${high}`,
              value: latency[high],
              problem: `is below ${low} (${String(latency[low])})`,
              allowed: `a bound of at least ${String(latency[low])}: latency bounds must not decrease (p50 <= p90 <= p99 <= p999)`,
            },
          ];
        }
      }
      return [];
    },
  },
  {
    id: 'memory-to-start',
    scope: 'spec',
    // Needs from schema.ts's MEMORY_TO_START. As a float: building a quantity from a computed
    // string costs the API server's estimate more than its budget; at whole MiB the two agree.
    rule: `!self.resources.memory.matches(${cel(QUANTITY_PATTERN)}) || !isQuantity(self.resources.memory) || self.variants.all(v, (has(self.sweep) ? self.sweep.workers : [v.workers]).all(w, quantity(self.resources.memory).asApproximateFloat() >= double(${celMemoryToStart()}) * 1048576.0))`,
    message: `memory must be enough to start every variant's workers (${memoryRuleText()})`,
    fieldPath: '.resources.memory',
    check(spec) {
      const root = fields(spec);
      const memory = fields(root?.['resources'])?.['memory'];
      if (!isQuantity(memory)) return [];
      const runtime = (fields(root?.['workload'])?.['runtime'] ?? 'node') === 'python' ? 'python' : 'node';
      // With a sweep every variant runs at every sweep worker count (its own workers unused).
      const sweep = fields(root?.['sweep']);
      const swept = sweep === undefined ? undefined : list(sweep['workers']);
      let worst: { need: number; variant: Fields; workers: number } | undefined;
      for (const item of list(root?.['variants'])) {
        const variant = fields(item);
        const model = variant?.['model'];
        if (variant === undefined || typeof model !== 'string') continue;
        const table = MEMORY_TO_START[runtime];
        const figures = table[model as keyof typeof table];
        if (figures === undefined) continue;
        for (const workers of swept ?? [variant['workers']]) {
          if (typeof workers !== 'number') continue;
          const need = figures.baseMi + figures.perWorkerMi * workers;
          if (compareQuantities(memory, `${need}Mi`) < 0 && (worst === undefined || need > worst.need))
            worst = { need, variant, workers };
        }
      }
      if (worst === undefined) return [];
      const { variant, need, workers } = worst;
      const runtimeName = runtime === 'python' ? 'Python' : 'Node.js';
      const kind = variant['model'] === 'process' ? 'process' : 'thread';
      return [
        {
          path: 'spec.resources.memory',
          value: memory,
          problem: `is less than variant ${String(variant['name'])} needs to start (${workers} ${runtimeName} worker ${kind}${workers === 1 ? '' : 'es'.slice(kind === 'process' ? 0 : 1)}${swept === undefined ? '' : ', its largest sweep point'}: ${need}Mi)`,
          allowed: `at least ${need}Mi, or fewer workers (${memoryRuleText()})`,
        },
      ];
    },
  },
  {
    id: 'cron-shape',
    scope: 'spec',
    rule: `!has(self.schedule) || self.schedule.matches(${cel(CRON_PATTERN)})`,
    message:
      'schedule must be five cron fields (minute hour day-of-month month day-of-week) with values in range, such as "0 3 * * 1"',
    fieldPath: '.schedule',
    check(spec) {
      const value = fields(spec)?.['schedule'];
      if (typeof value !== 'string' || cronPattern.test(value)) return [];
      const count = value.trim() === '' ? 0 : value.trim().split(/\s+/).length;
      const problem = count === 5 ? 'is not a cron expression with every value in range' : `has ${count} fields, not 5`;
      return [{ path: 'spec.schedule', value, problem, allowed: CRON_ALLOWED }];
    },
  },
  ...maxThroughputOnly('sweep', 'a sweep measures capacity at each point'),
  ...maxThroughputOnly('target', 'sizing for a target needs the capacity each variant sustains'),
  {
    id: 'sweep-workers-ascending',
    scope: 'spec.sweep',
    // Strictly ascending, so also unique; indices as a literal list (maxItems 16) because CEL
    // has no range, and `||` absorbs the out-of-range index past the end.
    rule: `${indices(16)}.all(i, i + 1 >= size(self.workers) || self.workers[i] < self.workers[i + 1])`,
    message: 'sweep.workers must be strictly ascending (each count once, smallest first), such as [1, 2, 4, 8]',
    fieldPath: '.workers',
    check(spec) {
      const workers = list(fields(fields(spec)?.['sweep'])?.['workers']);
      for (let i = 0; i + 1 < workers.length; i++) {
        const [a, b] = [workers[i], workers[i + 1]];
        if (typeof a !== 'number' || typeof b !== 'number' || a < b) continue;
        return [
          {
            path: `spec.sweep.workers[${i + 1}]`,
            value: b,
            problem: a === b ? `repeats spec.sweep.workers[${i}]` : `is below spec.sweep.workers[${i}] (${a})`,
            allowed: 'worker counts in strictly ascending order, each once, such as [1, 2, 4, 8]',
          },
        ];
      }
      return [];
    },
  },
  {
    id: 'sweep-cpu-ascending',
    scope: 'spec.sweep',
    // A value of the wrong shape is left to the pattern's own error (and its bound rule).
    rule: `!has(self.cpu) || ${indices(4)}.all(i, i + 1 >= size(self.cpu) || !self.cpu[i].matches(${cel(SWEEP_CPU_PATTERN)}) || !self.cpu[i + 1].matches(${cel(SWEEP_CPU_PATTERN)}) || quantity(self.cpu[i]).compareTo(quantity(self.cpu[i + 1])) < 0)`,
    message: 'sweep.cpu must be strictly ascending (each budget once, smallest first), such as ["500m", "1", "2"]',
    fieldPath: '.cpu',
    check(spec) {
      const cpu = list(fields(fields(spec)?.['sweep'])?.['cpu']);
      for (let i = 0; i + 1 < cpu.length; i++) {
        const [a, b] = [cpu[i], cpu[i + 1]];
        if (typeof a !== 'string' || typeof b !== 'string' || !sweepCpuPattern.test(a) || !sweepCpuPattern.test(b))
          continue;
        const order = compareQuantities(a, b);
        if (order < 0) continue;
        return [
          {
            path: `spec.sweep.cpu[${i + 1}]`,
            value: b,
            problem:
              order === 0
                ? `is the same budget as spec.sweep.cpu[${i}] (${a})`
                : `is below spec.sweep.cpu[${i}] (${a})`,
            allowed: 'CPU budgets in strictly ascending order, each once, such as ["500m", "1", "2"]',
          },
        ];
      }
      return [];
    },
  },
  {
    id: 'sweep-points-bounded',
    scope: 'spec',
    rule: `!has(self.sweep) || size(self.variants) * size(self.sweep.workers) * (has(self.sweep.cpu) ? size(self.sweep.cpu) : 1) <= ${MAX_SWEEP_POINTS}`,
    message: `a sweep may expand to at most ${MAX_SWEEP_POINTS} points (variants x worker counts x CPU budgets)`,
    fieldPath: '.sweep',
    check(spec) {
      const root = fields(spec);
      const sweep = fields(root?.['sweep']);
      if (sweep === undefined) return [];
      const cpu = sweep['cpu'] === undefined ? 1 : list(sweep['cpu']).length;
      const points = list(root?.['variants']).length * list(sweep['workers']).length * cpu;
      if (points <= MAX_SWEEP_POINTS) return [];
      return [
        {
          path: 'spec.sweep',
          value: sweep,
          problem: `expands to ${points} points (${list(root?.['variants']).length} variants x ${list(sweep['workers']).length} worker counts${sweep['cpu'] === undefined ? '' : ` x ${cpu} CPU budgets`})`,
          allowed: `at most ${MAX_SWEEP_POINTS} points: fewer worker counts, CPU budgets or variants`,
        },
      ];
    },
  },
];

/** `[0, 1, ..., n - 2]`: the index pairs (i, i + 1) of a list of at most n items, as a CEL literal. */
function indices(n: number): string {
  return `[${Array.from({ length: n - 1 }, (_, i) => i).join(', ')}]`;
}

/** The rule that spec.FIELD is allowed only with load.pattern max-throughput. */
function maxThroughputOnly(field: 'sweep' | 'target', why: string): CelRule[] {
  return [
    {
      id: `${field}-needs-max-throughput`,
      scope: 'spec',
      rule: `!has(self.${field}) || (has(self.load.pattern) && self.load.pattern == 'max-throughput')`,
      message: `${field} is allowed only with load.pattern max-throughput: ${why}`,
      fieldPath: `.${field}`,
      reason: 'FieldValueForbidden',
      check(spec) {
        const root = fields(spec);
        if (root?.[field] === undefined) return [];
        const pattern = patternOf(fields(root['load']));
        if (pattern === 'max-throughput') return [];
        return [
          {
            path: `spec.${field}`,
            value: root[field],
            problem: `is not used with load.pattern ${String(pattern)} (${why})`,
            allowed: `spec.${field} only with load.pattern: max-throughput`,
          },
        ];
      },
    },
  ];
}

function memoryRuleText(): string {
  const { node, python } = MEMORY_TO_START;
  return `Node.js: ${node.process.baseMi}Mi + ${node.process.perWorkerMi}Mi per worker process or ${node.thread.perWorkerMi}Mi per worker thread; Python: ${python.process.baseMi}Mi + ${python.process.perWorkerMi}Mi per worker process`;
}

/** Every rule the CRD carries on the spec: a bound per bounded field, then the cross-field rules. */
export const CEL_RULES: readonly CelRule[] = [...boundRules(), ...CROSS_FIELD_RULES];

/** Cross-field rules only (the README lists these; the bounds are in its field table). */
export const CROSS_FIELD_RULE_IDS: ReadonlySet<string> = new Set(CROSS_FIELD_RULES.map((rule) => rule.id));

// CLI side only: what CEL cannot say. Whatever loads manifests through validate.ts
// (checkManifest, checkObject, loadExperiments) applies these too; the API server does not,
// and the operator marks such an experiment Failed on admission instead.
export const CLI_RULES: readonly CliRule[] = [
  {
    id: 'cron-schedule',
    description:
      'schedule is a cron expression that can run: ranges go from low to high, no value repeats, the day exists in the month (cron-shape checks the rest on the API server too).',
    check(spec) {
      const value = fields(spec)?.['schedule'];
      // A schedule of the wrong shape is reported once, by cron-shape.
      if (typeof value !== 'string' || !cronPattern.test(value)) return [];
      try {
        CronExpressionParser.parse(value);
        return [];
      } catch (error) {
        const reason = (error as Error).message.replace(/\.$/, '');
        return [
          {
            path: 'spec.schedule',
            value,
            problem: `is not a valid cron expression (${reason})`,
            allowed: CRON_ALLOWED,
          },
        ];
      }
    },
  },
];

/** Every broken rule of a spec, CEL-backed and CLI-only, in a stable order. A rule that throws is skipped. */
export function checkRules(spec: unknown): Violation[] {
  const out: Violation[] = [];
  for (const rule of [...CEL_RULES, ...CLI_RULES]) {
    try {
      out.push(...rule.check(spec));
    } catch {
      // Inputs this malformed are already reported by the schema check.
    }
  }
  return out;
}
