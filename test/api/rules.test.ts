// The cross-field rules, as a table. Every case runs through the TypeScript check AND through a
// real CEL evaluator (@bufbuild/cel) on the CEL expression that goes into the CRD, and the two
// must agree: that is what lets `conclab validate` promise the API server's verdict.
// `sum()` on a list of durations comes from the Kubernetes CEL lists library, which is not in
// standard CEL, so the test registers an equivalent method.
import { type CelList, CelScalar, celMethod, isCelError, listType, run } from '@bufbuild/cel';
import test from 'ava';
import Value from 'typebox/value';
import { CEL_RULES, CLI_RULES, checkRules } from '../../operator/api/rules.ts';
import { ConcurrencyExperimentSpec } from '../../operator/api/schema.ts';

const sumDurations = celMethod('sum', listType(CelScalar.DYN), [], CelScalar.DYN, function (this: CelList) {
  let nanos = 0n;
  for (const item of this) {
    const duration = (item as unknown as { message: { seconds: bigint; nanos: number } }).message;
    nanos += duration.seconds * 1_000_000_000n + BigInt(duration.nanos);
  }
  const seconds = nanos / 1_000_000_000n;
  return { $typeName: 'google.protobuf.Duration', seconds, nanos: Number(nanos % 1_000_000_000n) } as never;
});

/** JSON as CEL sees a Kubernetes object: maps, lists, int64 integers, doubles, strings. */
function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object')
    return new Map(Object.entries(value).map(([key, child]) => [key, toCel(child)]));
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return value;
}

function celPasses(rule: (typeof CEL_RULES)[number], spec: Record<string, unknown>): boolean {
  const self = rule.scope === 'spec' ? spec : spec[rule.scope.split('.')[1]!];
  const result = run(rule.rule, { self: toCel(self) as never }, { funcs: [sumDurations] });
  if (isCelError(result)) throw new Error(`${rule.id}: CEL error ${result.message}`);
  if (typeof result !== 'boolean') throw new Error(`${rule.id}: CEL returned ${String(result)}, not a boolean`);
  return result;
}

const base = () => ({
  workload: { runtime: 'node', profile: 'cpu', cpuTime: '5ms' },
  resources: { cpu: '1', memory: '512Mi' },
  variants: [
    { name: 'processes', model: 'process', workers: 4 },
    { name: 'threads', model: 'thread', workers: 4 },
  ],
  load: { pattern: 'constant-arrival-rate', rate: 120, duration: '10s' },
});

type Spec = ReturnType<typeof base> & Record<string, unknown>;
interface Case {
  name: string;
  edit(spec: Spec): void;
  /** Ids of the rules that must fail (all others must pass). */
  fails: string[];
  /** Paths the TypeScript check blames. */
  paths?: string[];
}

const cases: Case[] = [
  { name: 'the base spec passes every rule', edit: () => {}, fails: [] },
  {
    name: 'two variants with one name fail unique-variant-names at the second',
    edit: (s) => {
      s.variants[1]!.name = 'processes';
    },
    fails: ['unique-variant-names'],
    paths: ['spec.variants[1].name'],
  },
  {
    name: 'constant-arrival-rate without rate fails rate-required',
    edit: (s) => {
      delete (s.load as Record<string, unknown>)['rate'];
    },
    fails: ['rate-required'],
    paths: ['spec.load.rate'],
  },
  {
    name: 'max-throughput without rate fails rate-required',
    edit: (s) => {
      s.load = { pattern: 'max-throughput', duration: '10s' } as never;
    },
    fails: ['rate-required'],
  },
  {
    name: 'a missing pattern defaults to constant-arrival-rate, which needs a rate',
    edit: (s) => {
      s.load = { duration: '10s' } as never;
    },
    fails: ['rate-required'],
  },
  {
    name: 'ramping-arrival-rate with stages and no rate passes',
    edit: (s) => {
      s.load = {
        pattern: 'ramping-arrival-rate',
        stages: [
          { duration: '5s', target: 50 },
          { duration: '5s', target: 100 },
        ],
      } as never;
    },
    fails: [],
  },
  {
    name: 'ramping-arrival-rate without stages fails stages-required-with-ramping',
    edit: (s) => {
      s.load = { pattern: 'ramping-arrival-rate' } as never;
    },
    fails: ['stages-required-with-ramping'],
    paths: ['spec.load.stages'],
  },
  {
    name: 'ramping-arrival-rate with a rate fails rate-not-with-ramping',
    edit: (s) => {
      s.load = { pattern: 'ramping-arrival-rate', rate: 10, stages: [{ duration: '5s', target: 50 }] } as never;
    },
    fails: ['rate-not-with-ramping'],
  },
  {
    name: 'stages with constant-arrival-rate fail stages-only-with-ramping',
    edit: (s) => {
      (s.load as Record<string, unknown>)['stages'] = [{ duration: '5s', target: 50 }];
    },
    fails: ['stages-only-with-ramping'],
    paths: ['spec.load.stages'],
  },
  {
    name: 'a fault naming an unknown variant fails fault-variants-exist at that name',
    edit: (s) => {
      s['faults'] = [{ kind: 'abort', at: '5s', variants: ['threads', 'fork'] }];
    },
    fails: ['fault-variants-exist'],
    paths: ['spec.faults[0].variants[1]'],
  },
  {
    name: 'a fault naming existing variants passes',
    edit: (s) => {
      s['faults'] = [{ kind: 'exit', at: '5s', variants: ['threads', 'processes'] }];
    },
    fails: [],
  },
  {
    name: 'a fault at the end of the load fails fault-during-load',
    edit: (s) => {
      s['faults'] = [{ kind: 'abort', at: '10s' }];
    },
    fails: ['fault-during-load'],
    paths: ['spec.faults[0].at'],
  },
  {
    name: 'a fault just before the end of the load passes',
    edit: (s) => {
      s['faults'] = [{ kind: 'abort', at: '9.5s' }];
    },
    fails: [],
  },
  {
    name: 'with ramping, a fault within the sum of the stages passes',
    edit: (s) => {
      s.load = {
        pattern: 'ramping-arrival-rate',
        stages: [
          { duration: '5s', target: 50 },
          { duration: '5s', target: 100 },
        ],
      } as never;
      s['faults'] = [{ kind: 'hang', at: '7s' }];
    },
    fails: [],
  },
  {
    name: 'with ramping, a fault after the sum of the stages fails fault-during-load',
    edit: (s) => {
      s.load = {
        pattern: 'ramping-arrival-rate',
        stages: [
          { duration: '5s', target: 50 },
          { duration: '0.5m', target: 100 },
        ],
      } as never;
      s['faults'] = [{ kind: 'hang', at: '36s' }];
    },
    fails: ['fault-during-load'],
  },
  {
    name: 'racyUpdates with the cpu profile fails racy-updates-only-shared-state',
    edit: (s) => {
      (s.workload as Record<string, unknown>)['racyUpdates'] = true;
    },
    fails: ['racy-updates-only-shared-state'],
    paths: ['spec.workload.racyUpdates'],
  },
  {
    name: 'racyUpdates with the shared-state profile passes',
    edit: (s) => {
      s.workload = { profile: 'shared-state', cpuTime: '2ms', racyUpdates: true } as never;
    },
    fails: [],
  },
  {
    name: 'a zero cpuTime with the cpu profile fails cpu-time-positive',
    edit: (s) => {
      s.workload.cpuTime = '0ms';
    },
    fails: ['cpu-time-positive'],
    paths: ['spec.workload.cpuTime'],
  },
  {
    name: 'a zero cpuTime with the mixed profile fails cpu-time-positive',
    edit: (s) => {
      s.workload = { profile: 'mixed', cpuTime: '0s', ioWait: '10ms' } as never;
    },
    fails: ['cpu-time-positive'],
  },
  {
    name: 'a zero cpuTime with the io profile passes (io does no computation)',
    edit: (s) => {
      s.workload = { profile: 'io', cpuTime: '0ms', ioWait: '50ms' } as never;
    },
    fails: [],
  },
  {
    name: 'the io profile without ioWait fails io-wait-positive',
    edit: (s) => {
      s.workload = { profile: 'io' } as never;
    },
    fails: ['io-wait-positive'],
    paths: ['spec.workload.ioWait'],
  },
];

for (const c of cases) {
  test(c.name, (t) => {
    const raw = base() as Spec;
    c.edit(raw);
    const spec = Value.Default(ConcurrencyExperimentSpec, raw) as Record<string, unknown>;
    for (const rule of CEL_RULES) {
      const tsFails = rule.check(spec).length > 0;
      const celFails = !celPasses(rule, spec);
      const expected = c.fails.includes(rule.id);
      t.is(tsFails, expected, `TypeScript check of ${rule.id}`);
      t.is(celFails, expected, `CEL rule of ${rule.id}: ${rule.rule}`);
    }
    if (c.paths !== undefined)
      t.deepEqual(
        checkRules(spec).map((v) => v.path),
        c.paths,
      );
  });
}

const cliCases: Array<{ name: string; edit(spec: Spec): void; problem?: RegExp }> = [
  {
    name: 'cpu "10m" is the smallest budget allowed',
    edit: (s) => {
      s.resources.cpu = '10m';
    },
  },
  {
    name: 'cpu "5m" is below the smallest budget',
    edit: (s) => {
      s.resources.cpu = '5m';
    },
    problem: /^spec\.resources\.cpu: "5m" is out of range; allowed: a CPU quantity from "10m" to "64"$/,
  },
  {
    name: 'cpu "64" is the largest budget allowed',
    edit: (s) => {
      s.resources.cpu = '64';
    },
  },
  {
    name: 'cpu "65" is above the largest budget',
    edit: (s) => {
      s.resources.cpu = '65';
    },
    problem: /cpu: "65"/,
  },
  {
    name: 'memory "32Mi" is the smallest allowed',
    edit: (s) => {
      s.resources.memory = '32Mi';
    },
  },
  {
    name: 'memory "16Mi" is below the smallest allowed',
    edit: (s) => {
      s.resources.memory = '16Mi';
    },
    problem: /^spec\.resources\.memory: "16Mi" is out of range; allowed: a memory quantity from "32Mi" to "256Gi"$/,
  },
  {
    name: 'memory "300Gi" is above the largest allowed',
    edit: (s) => {
      s.resources.memory = '300Gi';
    },
    problem: /300Gi/,
  },
  {
    name: 'a bad quantity is left to the schema check',
    edit: (s) => {
      s.resources.memory = 'lots';
    },
  },
  {
    name: 'schedule "0 3 * * 1" is a valid cron expression',
    edit: (s) => {
      s['schedule'] = '0 3 * * 1';
    },
  },
  {
    name: 'schedule "61 * * * *" names the minute out of range',
    edit: (s) => {
      s['schedule'] = '61 * * * *';
    },
    problem: /^spec\.schedule: "61 \* \* \* \*" is not a valid cron expression \(.*61.*\); allowed: a five-field cron/,
  },
  {
    name: 'schedule with six fields is rejected (Kubernetes cron has five)',
    edit: (s) => {
      s['schedule'] = '0 0 3 * * 1';
    },
    problem: /has 6 fields, not 5/,
  },
];

for (const c of cliCases) {
  test(`CLI-side rule: ${c.name}`, (t) => {
    const raw = base() as Spec;
    c.edit(raw);
    const lines = CLI_RULES.flatMap((rule) => rule.check(raw)).map(
      (v) => `${v.path}: ${JSON.stringify(v.value)} ${v.problem}; allowed: ${v.allowed}`,
    );
    if (c.problem === undefined) t.deepEqual(lines, []);
    else {
      t.is(lines.length, 1, lines.join('\n'));
      t.regex(lines[0] ?? '', c.problem);
    }
  });
}

test('rules never throw on malformed specs, they leave those to the schema check', (t) => {
  for (const spec of [null, 42, 'x', [], { variants: 'x', load: [], faults: {} }, { workload: null, faults: [null] }]) {
    t.notThrows(() => checkRules(spec));
  }
});
