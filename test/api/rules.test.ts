// The cross-field rules, as a table. Every case runs through the TypeScript check AND through a
// real CEL evaluator (@bufbuild/cel) on the CEL expression that goes into the CRD, and the two
// must agree: that is what lets `conclab validate` promise the API server's verdict.
// `sum()` on a list of durations comes from the Kubernetes CEL lists library, which is not in
// standard CEL, so the test registers an equivalent method.
import { type CelList, CelScalar, celMethod, isCelError, listType, run } from '@bufbuild/cel';
import test from 'ava';
import { applyDefaults } from '../../operator/api/defaults.ts';
import { CEL_RULES, CLI_RULES, checkRules } from '../../operator/api/rules.ts';
import { ConcurrencyExperimentSpec } from '../../operator/api/schema.ts';
import { base, cases, type Spec } from './rule-cases.ts';

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

for (const c of cases) {
  test(c.name, (t) => {
    const raw = base() as Spec;
    c.edit(raw);
    const spec = applyDefaults<Record<string, unknown>>(ConcurrencyExperimentSpec, raw);
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
