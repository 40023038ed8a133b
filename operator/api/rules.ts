// Cross-field rules of a ConcurrencyExperiment spec.
//
// Each CEL rule is written twice on purpose: as a CEL expression that crd.ts puts into the CRD
// (`x-kubernetes-validations`, so the API server enforces it) and as the same check in
// TypeScript, so `conclab validate` and `conclab run` reject exactly what the API server
// rejects without needing one. test/api/rules.test.ts runs both on the same table of specs.
//
// The TypeScript checks run on specs that may also have schema errors (all problems are
// reported at once), so they read fields defensively and stay silent about anything the schema
// already reports (a duration that does not parse, a missing list).
//
// CEL cost: every list the rules iterate has maxItems and every string maxLength in the
// schema, which keeps the API server's cost estimate bounded (the worst, fault variants
// against variants, is 8 x 16 x 8 string comparisons of at most 40 characters).
import { CronExpressionParser } from 'cron-parser';
import { parseDurationMillis, parseQuantity } from './units.ts';

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

/** Schema nodes that carry CEL rules, as dotted paths from the object root. */
export type RuleScope = 'spec' | 'spec.workload' | 'spec.load' | 'spec.variants';

/** A rule enforced by the API server (CEL) and by the CLI (check), identically. */
export interface CelRule {
  /** Stable name, used in tests. */
  id: string;
  /** Schema node the CEL rule is attached to; `self` is that node. */
  scope: RuleScope;
  /** CEL expression that is true when the node is valid. */
  rule: string;
  /** Message the API server returns when the rule fails. */
  message: string;
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

function fields(value: unknown): Fields | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function durationOrUndefined(value: unknown): number | undefined {
  try {
    return parseDurationMillis(value);
  } catch {
    return undefined;
  }
}

function quantityOrUndefined(value: unknown): number | undefined {
  try {
    return parseQuantity(value);
  } catch {
    return undefined;
  }
}

const RAMPING = 'ramping-arrival-rate';
const CPU_PROFILES = ['cpu', 'mixed', 'shared-state'];
const IO_PROFILES = ['io', 'mixed'];

/** The load pattern after defaults (the schema default is constant-arrival-rate). */
function patternOf(load: Fields | undefined): unknown {
  return load?.['pattern'] ?? 'constant-arrival-rate';
}

/** Milliseconds of measured load that a fault must fall into, or undefined if unknown. */
function measuredMillis(load: Fields | undefined): number | undefined {
  if (patternOf(load) !== RAMPING) return durationOrUndefined(load?.['duration'] ?? '30s');
  const stages = load?.['stages'];
  if (!Array.isArray(stages)) return undefined;
  let total = 0;
  for (const stage of stages) {
    const millis = durationOrUndefined(fields(stage)?.['duration']);
    if (millis === undefined) return undefined;
    total += millis;
  }
  return total;
}

export const CEL_RULES: readonly CelRule[] = [
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
    rule: "!has(self.faults) || self.faults.all(f, duration(f.at) < (self.load.pattern == 'ramping-arrival-rate' && has(self.load.stages) ? self.load.stages.map(s, duration(s.duration)).sum() : duration(self.load.duration)))",
    message:
      'a fault must be injected before the measured load ends: at must be less than load.duration (or the sum of the stage durations)',
    fieldPath: '.faults',
    check(spec) {
      const root = fields(spec);
      const load = fields(root?.['load']);
      const end = measuredMillis(load);
      if (end === undefined) return [];
      const out: Violation[] = [];
      list(root?.['faults']).forEach((fault, f) => {
        const at = fields(fault)?.['at'];
        const atMillis = durationOrUndefined(at);
        if (atMillis === undefined || atMillis < end) return;
        const what = patternOf(load) === RAMPING ? 'the sum of the stage durations' : 'load.duration';
        out.push({
          path: `spec.faults[${f}].at`,
          value: at,
          problem: `is not before the measured load ends (${end}ms)`,
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
    rule: "!has(self.cpuTime) || (has(self.profile) && !(self.profile in ['cpu', 'mixed', 'shared-state'])) || duration(self.cpuTime) > duration('0s')",
    message: 'cpuTime must be more than 0 for the cpu, mixed and shared-state profiles',
    fieldPath: '.cpuTime',
    check(spec) {
      const workload = fields(fields(spec)?.['workload']);
      const profile = workload?.['profile'] ?? 'cpu';
      if (workload === undefined || !CPU_PROFILES.includes(profile as string)) return [];
      const value = workload['cpuTime'] ?? '5ms';
      if (durationOrUndefined(value) !== 0) return [];
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
    rule: "!has(self.profile) || !(self.profile in ['io', 'mixed']) || (has(self.ioWait) && duration(self.ioWait) > duration('0s'))",
    message: 'ioWait must be more than 0 for the io and mixed profiles',
    fieldPath: '.ioWait',
    check(spec) {
      const workload = fields(fields(spec)?.['workload']);
      const profile = workload?.['profile'];
      if (workload === undefined || !IO_PROFILES.includes(profile as string)) return [];
      const value = workload['ioWait'] ?? '0ms';
      if (durationOrUndefined(value) !== 0) return [];
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
];

/** Bounds on the resource budget, in the units parseQuantity returns (cores, bytes). */
export const CPU_CORES_MIN = 0.01;
export const CPU_CORES_MAX = 64;
export const MEMORY_BYTES_MIN = 32 * 1024 ** 2;
export const MEMORY_BYTES_MAX = 256 * 1024 ** 3;

function quantityBound(field: 'cpu' | 'memory', min: number, max: number, allowed: string): CliRule['check'] {
  return (spec) => {
    const value = fields(fields(spec)?.['resources'])?.[field];
    const amount = quantityOrUndefined(value);
    if (amount === undefined || (amount >= min && amount <= max)) return [];
    return [{ path: `spec.resources.${field}`, value, problem: 'is out of range', allowed }];
  };
}

// CLI side only: CEL could compare quantities only with the quantity library of newer API
// servers, and has no cron parser. Whatever loads manifests through validate.ts (checkManifest,
// checkObject, loadExperiments) applies these too; the API server does not.
export const CLI_RULES: readonly CliRule[] = [
  {
    id: 'cpu-bounds',
    description: 'resources.cpu is between 10m and 64 cores.',
    check: quantityBound('cpu', CPU_CORES_MIN, CPU_CORES_MAX, 'a CPU quantity from "10m" to "64"'),
  },
  {
    id: 'memory-bounds',
    description: 'resources.memory is between 32Mi and 256Gi.',
    check: quantityBound('memory', MEMORY_BYTES_MIN, MEMORY_BYTES_MAX, 'a memory quantity from "32Mi" to "256Gi"'),
  },
  {
    id: 'cron-schedule',
    description: 'schedule is a five-field cron expression, as a Kubernetes CronJob takes.',
    check(spec) {
      const value = fields(spec)?.['schedule'];
      if (typeof value !== 'string') return [];
      const allowed = 'a five-field cron expression (minute hour day-of-month month day-of-week), such as "0 3 * * 1"';
      const count = value.trim().split(/\s+/).length;
      if (count !== 5) return [{ path: 'spec.schedule', value, problem: `has ${count} fields, not 5`, allowed }];
      try {
        CronExpressionParser.parse(value);
        return [];
      } catch (error) {
        const reason = (error as Error).message.replace(/\.$/, '');
        return [{ path: 'spec.schedule', value, problem: `is not a valid cron expression (${reason})`, allowed }];
      }
    },
  },
];

/** Every broken rule, CEL-backed and CLI-only, in a stable order. A rule that throws is skipped. */
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
