import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ROOT } from '../../operator/api/generate.ts';
import { parseCpuCores, parseDurationMillis } from '../../operator/api/units.ts';
import { loadExperiments } from '../../operator/api/validate.ts';

const dir = join(ROOT, 'examples');
const files = readdirSync(dir).filter((name) => name.endsWith('.yaml'));

test('the five examples of the foundation are there', (t) => {
  for (const name of ['quickstart.yaml', 'io-bound.yaml', 'shared-state.yaml', 'crash.yaml', 'python-gil.yaml'])
    t.true(files.includes(name), name);
});

for (const name of files) {
  test(`example ${name} validates and opens with a comment saying what it answers`, async (t) => {
    const experiments = await loadExperiments(join(dir, name));
    t.is(experiments.length, 1);
    const text = readFileSync(join(dir, name), 'utf8');
    t.regex(text, /^# .+\?/m, 'the opening comment asks a question');
    t.true(text.startsWith('#'));
  });
}

test('the quickstart is sized to finish in about a minute: 1 CPU, 4 workers each, rate well under capacity', async (t) => {
  const [experiment] = await loadExperiments(join(dir, 'quickstart.yaml'));
  const spec = experiment!.spec;
  t.is(parseCpuCores(spec.resources.cpu), 1);
  t.deepEqual(
    spec.variants.map((v) => `${v.model}x${v.workers}`),
    ['processx4', 'threadx4'],
  );
  const capacity = parseCpuCores(spec.resources.cpu) / (parseDurationMillis(spec.workload.cpuTime) / 1000);
  t.true((spec.load.rate ?? 0) <= 0.7 * capacity, `rate ${spec.load.rate} vs capacity ${capacity}`);
  const seconds =
    (spec.variants.length *
      spec.trials *
      (parseDurationMillis(spec.load.duration) + parseDurationMillis(spec.load.warmUp))) /
    1000;
  t.true(seconds <= 60, `${seconds} s of load`);
});
