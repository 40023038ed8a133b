// The rules, as a table. Every case runs through the TypeScript check AND through a real CEL
// evaluator (@bufbuild/cel) on the CEL expression that goes into the CRD, and the two must
// agree: that is what lets `conclab validate` promise the API server's verdict.
//
// The Kubernetes CEL libraries are not standard CEL, so the evaluator gets equivalents:
// `sum()` on a list of durations (lists library), and the quantity library (quantity(),
// isQuantity(), compareTo(), asApproximateFloat()). The quantity functions are a FAKE: a quantity
// is carried as its string and compared with units.ts, so for those rules this test checks the
// CEL logic around the comparison, not the comparison itself; test/api/apiserver.test.ts runs the
// same cases against a real API server, whose quantity library is the real one.
import { type CelList, CelScalar, celFunc, celMethod, isCelError, listType, run } from '@bufbuild/cel';
import test from 'ava';
import { applyDefaults } from '../../operator/api/defaults.ts';
import { CEL_RULES, CLI_RULES, checkRules, valuesAt } from '../../operator/api/rules.ts';
import { ConcurrencyExperimentSpec } from '../../operator/api/schema.ts';
import { compareQuantities, isQuantity, parseQuantity } from '../../operator/api/units.ts';
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

// FAKE Kubernetes quantity library: a quantity is its string (see the comment at the top).
const quantityLibrary = [
  celFunc('quantity', [CelScalar.STRING], CelScalar.STRING, (text) => {
    if (!isQuantity(text)) throw new Error(`quantity(${text}): not a quantity`);
    return text;
  }),
  celFunc('isQuantity', [CelScalar.STRING], CelScalar.BOOL, (text) => isQuantity(text)),
  celMethod('compareTo', CelScalar.STRING, [CelScalar.STRING], CelScalar.INT, function (this: string, other) {
    return BigInt(compareQuantities(this, other));
  }),
  celMethod('asApproximateFloat', CelScalar.STRING, [], CelScalar.DOUBLE, function (this: string) {
    return parseQuantity(this);
  }),
];

/** JSON as CEL sees a Kubernetes object: maps, lists, int64 integers, doubles, strings. */
function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object')
    return new Map(Object.entries(value).map(([key, child]) => [key, toCel(child)]));
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return value;
}

/** Whether the rule holds at every node of its scope (a rule on list items, for every item). */
function celPasses(rule: (typeof CEL_RULES)[number], spec: Record<string, unknown>): boolean {
  return valuesAt({ spec }, rule.scope).every(({ value }) => {
    const result = run(rule.rule, { self: toCel(value) as never }, { funcs: [sumDurations, ...quantityLibrary] });
    if (isCelError(result)) throw new Error(`${rule.id}: CEL error ${result.message}`);
    if (typeof result !== 'boolean') throw new Error(`${rule.id}: CEL returned ${String(result)}, not a boolean`);
    return result;
  });
}

/** The message the API server would print: messageExpression evaluated, or the message. */
function celMessage(rule: (typeof CEL_RULES)[number], value: unknown): string {
  if (rule.messageExpression === undefined) return rule.message;
  const result = run(
    rule.messageExpression,
    { self: toCel(value) as never },
    { funcs: [sumDurations, ...quantityLibrary] },
  );
  if (typeof result !== 'string') throw new Error(`${rule.id}: messageExpression gave ${String(result)}`);
  return result;
}

test('every rule id is unique and every case names only rules that exist', (t) => {
  const ids = CEL_RULES.map((rule) => rule.id);
  t.is(new Set(ids).size, ids.length);
  for (const c of cases) for (const id of c.fails) t.true(ids.includes(id), `${c.name}: ${id}`);
});

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

test('a bound names the value, what is wrong and the range, in CEL as in TypeScript', (t) => {
  const rule = CEL_RULES.find((r) => r.id === 'duration-bounds:spec.load.duration')!;
  const spec = applyDefaults<Record<string, unknown>>(ConcurrencyExperimentSpec, base());
  (spec['load'] as Record<string, unknown>)['duration'] = '0s';
  t.is(celMessage(rule, '0s'), '0s is too short; allowed: 1s to 24h');
  t.is(celMessage(rule, '9999999999999h'), '9999999999999h is too long; allowed: 1s to 24h');
  t.deepEqual(rule.check(spec), [
    { path: 'spec.load.duration', value: '0s', problem: 'is too short', allowed: 'a duration from 1s to 24h' },
  ]);
  const cpu = CEL_RULES.find((r) => r.id === 'quantity-bounds:spec.resources.cpu')!;
  t.is(celMessage(cpu, '1e1000'), '1e1000 is too large; allowed: 10m to 64 cores');
  t.is(celMessage(cpu, '1e1.5'), '1e1.5 is not a Kubernetes quantity; allowed: 10m to 64 cores');
});

const cliCases: Array<{ name: string; edit(spec: Spec): void; problem?: RegExp }> = [
  {
    name: 'schedule "0 3 * * 1" is a valid cron expression',
    edit: (s) => {
      s['schedule'] = '0 3 * * 1';
    },
  },
  {
    name: 'schedule "5-3 * * * *" has its range backwards',
    edit: (s) => {
      s['schedule'] = '5-3 * * * *';
    },
    problem:
      /^spec\.schedule: "5-3 \* \* \* \*" is not a valid cron expression \(.*5-3.*\); allowed: a five-field cron/,
  },
  {
    name: 'schedule "0 0 31 2 *" names a day February never has',
    edit: (s) => {
      s['schedule'] = '0 0 31 2 *';
    },
    problem: /is not a valid cron expression/,
  },
  {
    name: 'a schedule of the wrong shape is left to cron-shape (one line, not two)',
    edit: (s) => {
      s['schedule'] = '61 * * * *';
    },
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
  for (const spec of [
    null,
    42,
    'x',
    [],
    { variants: 'x', load: [], faults: {} },
    { workload: null, faults: [null] },
    { resources: { memory: 5 }, variants: [{ workers: 'x' }], slo: { latency: [] }, load: { stages: [null] } },
  ]) {
    t.notThrows(() => checkRules(spec));
  }
});
