// The HTML report of every example manifest, opened in real headless Chromium: no console or
// page error, no request off the file, every chart with real data marks, legends that do not
// overlap, the answer on the first screen; screenshots kept for a person to look at.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { renderHtml } from '../../operator/report/html.ts';
import { toJsonReport } from '../../operator/report/json.ts';
import { buildReport } from '../../operator/report/model.ts';
import { buildRunOf } from '../analysis/records-builder.ts';
import { type Browser, chartProblems, launchChromium, screenshotDir, watchedPage } from './chromium.ts';
import { exampleFiles, exampleReport, readExample } from './example-reports.ts';
import { GENERATED_AT } from './report-fixture.ts';

let browser: Browser | undefined;

test.before(async () => {
  browser = await launchChromium();
});

test.after.always(async () => {
  await browser?.close();
});

async function open(name: string, html: string) {
  if (!browser) throw new Error('Chromium did not start');
  const dir = screenshotDir();
  const file = path.join(dir, `${name}.html`);
  writeFileSync(file, html);
  const watch = await watchedPage(browser);
  await watch.page.goto(`file://${file}`, { waitUntil: 'load', timeout: 60_000 });
  const first = path.join(dir, `${name}-first-screen.png`);
  const full = path.join(dir, `${name}-full.png`);
  await watch.page.screenshot({ path: first });
  await watch.page.screenshot({ path: full, fullPage: true });
  return { ...watch, first, full };
}

/** Expected charts by what the example measures; each must be drawn with data. */
function expectedCharts(file: string): string[] {
  const always = ['hero', 'latency-percentiles', 'cpu', 'memory', 'context-switches', 'worker-spread', 'fairness'];
  const extra: Record<string, string[]> = {
    'python-gil.yaml': ['load-throughput', 'load-latency'],
    'shared-state.yaml': ['shared-state'],
    'sweep.yaml': ['load-throughput', 'load-latency', 'usl-fit'],
  };
  return [...always, ...(extra[file] ?? [])];
}

for (const file of exampleFiles()) {
  const name = path.basename(file, '.yaml');
  test.serial(`the report of examples/${file} opens cleanly and every chart has data`, async (t) => {
    const model = exampleReport(file);
    const { page, problems, first, full } = await open(`example-${name}`, renderHtml(model));
    t.log(`screenshots: ${first} ${full}`);
    t.deepEqual(problems, []);
    const charts = await chartProblems(page);
    t.deepEqual(charts.problems, []);
    for (const id of expectedCharts(file)) t.true(charts.charts.includes(id), `chart ${id} missing: ${charts.charts}`);
    // Two charts per variant per second, each variant its own.
    const variants = model.variants.length;
    t.is(charts.charts.filter((c) => c.startsWith('timeline-')).length, 2 * variants);
    // The verdict and the picture sit on the first screen, side by side with nothing hidden.
    const verdict = await page.locator('#verdict').boundingBox();
    const hero = await page.locator('#hero svg.chart').boundingBox();
    t.truthy(verdict);
    t.truthy(hero);
    t.true((hero?.y ?? 9999) + (hero?.height ?? 0) <= 800, `hero ends at ${(hero?.y ?? 0) + (hero?.height ?? 0)}`);
    t.true((hero?.width ?? 0) >= 900, JSON.stringify(hero));
    // The measured figures of the process-vs-thread question are on the page.
    const text = (await page.locator('body').textContent()) ?? '';
    t.regex(text, /voluntary \/ request/);
    t.regex(text, /USS \/ worker/);
    t.regex(text, /limits read back for/);
  });
}

test.serial('quickstart: the first screen holds the verdict and the comparison that explains it', async (t) => {
  const { page, problems, first } = await open('first-screen-quickstart', renderHtml(exampleReport('quickstart.yaml')));
  t.log(`screenshot: ${first}`);
  t.deepEqual(problems, []);
  t.is(await page.locator('#hero').getAttribute('data-kind'), 'comparison');
  const verdict = await page.locator('#verdict').boundingBox();
  const hero = await page.locator('#hero svg.chart').boundingBox();
  t.true((verdict?.y ?? 9999) + (verdict?.height ?? 0) <= 300, JSON.stringify(verdict));
  t.true((hero?.y ?? 9999) > (verdict?.y ?? 0) && (hero?.y ?? 0) + (hero?.height ?? 0) <= 800, JSON.stringify(hero));
  t.regex((await page.locator('#verdict').textContent()) ?? '', /lower p99 latency/);
  // The picture shows the figures the verdict names: throughput against the offered rate and p99.
  const heroText = (await page.locator('#hero').textContent()) ?? '';
  t.regex(heroText, /throughput, req\/s/);
  t.regex(heroText, /p99 latency per trial/);
  t.regex(heroText, /offered/);
  // A bar per variant in each panel, a dot per trial.
  t.is(await page.locator('#hero .trial-dot').count(), 3 * 2 * 2);
});

test.serial('crash: the first screen holds the verdict and the blast-radius timeline that explains it', async (t) => {
  const { page, problems, first } = await open('first-screen-crash', renderHtml(exampleReport('crash.yaml')));
  t.log(`screenshot: ${first}`);
  t.deepEqual(problems, []);
  t.is(await page.locator('#hero').getAttribute('data-kind'), 'blast-radius');
  t.regex(
    (await page.locator('#verdict').textContent()) ?? '',
    /one broken worker cost processes \d+% and threads 100%/,
  );
  const hero = await page.locator('#hero svg.chart').boundingBox();
  t.true((hero?.y ?? 9999) + (hero?.height ?? 0) <= 800, JSON.stringify(hero));
  // One bold line per variant and its fault marker.
  t.is(await page.locator('#hero path.series[data-series="processes"]').count(), 1);
  t.is(await page.locator('#hero path.series[data-series="threads"]').count(), 1);
  t.regex((await page.locator('#hero').textContent()) ?? '', /fault/);
  // The thread line reaches 0% of its baseline, the process line does not.
  const bottom = async (series: string) => {
    const box = await page.locator(`#hero path.series[data-series="${series}"]`).boundingBox();
    return (box?.y ?? 0) + (box?.height ?? 0);
  };
  const lowest = { processes: await bottom('processes'), threads: await bottom('threads') };
  t.true(lowest.threads > lowest.processes + 50, JSON.stringify(lowest));
});

test.serial('racy shared state: the lost-update count is in the JSON and on the page, per model', async (t) => {
  const model = exampleReport('shared-state.yaml', (e) => {
    e.spec.workload.racyUpdates = true;
  });
  const doc = toJsonReport(model);
  const lost = Object.fromEntries(doc.variants.map((v) => [v.name, v.sharedState?.lostUpdates]));
  t.true((lost.processes ?? 0) > 0 && (lost.threads ?? 0) > 0, JSON.stringify(lost));
  const { page, problems, full } = await open('shared-state-racy', renderHtml(model));
  t.log(`screenshot: ${full}`);
  t.deepEqual(problems, []);
  const row = (await page.locator('table.shared-state tbody tr').first().textContent()) ?? '';
  t.regex(row, new RegExp(`racy: get \\+ set over IPC.*${lost.processes} of`));
  t.regex(
    (await page.locator('svg.chart[data-chart="shared-state"]').textContent()) ?? '',
    /updates lost \(racy mode\)/,
  );
});

test.serial(
  'eight variants: every chart keeps one colour and one legend entry per variant, none overlapping',
  async (t) => {
    const experiment = readExample('quickstart.yaml');
    const names = [
      'processes-1',
      'processes-2',
      'processes-4',
      'processes-8',
      'threads-1',
      'threads-2',
      'threads-4',
      'threads-8',
    ];
    experiment.spec.variants = names.map((name) => ({
      name,
      model: name.startsWith('processes') ? 'process' : 'thread',
      workers: Number(name.split('-')[1]),
      replicas: 1,
    }));
    const shapes = Object.fromEntries(
      names.map((name, i) => [
        name,
        (trial: number) => ({
          rate: 120,
          p99Millis: () => 20 + 3 * i + trial,
          fault: { atSeconds: 4, kind: 'exit' as const },
        }),
      ]),
    );
    const model = buildReport(buildRunOf(experiment, shapes), { generatedAt: GENERATED_AT });
    const { page, problems, full } = await open('eight-variants', renderHtml(model));
    t.log(`screenshot: ${full}`);
    t.deepEqual(problems, []);
    const charts = await chartProblems(page);
    t.deepEqual(charts.problems, []);
    const legend = await page
      .locator('#latency svg.chart text.legend, svg[data-chart="latency-percentiles"] text.legend')
      .allTextContents();
    t.deepEqual([...new Set(legend)].sort(), [...names].sort());
    const strokes = await page
      .locator('svg[data-chart="latency-percentiles"] path.series')
      .evaluateAll((paths) => paths.map((p) => p.getAttribute('stroke')));
    t.is(new Set(strokes).size, 8);
  },
);

test.serial('the chart check itself finds a chart without data, NaN coordinates and overlapping legends', async (t) => {
  const broken = `<!doctype html><html><body>
<svg class="chart" data-chart="empty" width="400" height="200"><path d="" class="mark"/></svg>
<svg class="chart" data-chart="nan" width="400" height="200"><rect x="NaN" y="1" width="10" height="10" class="mark"/></svg>
<svg class="chart" data-chart="legend" width="400" height="200"><rect x="1" y="1" width="10" height="10" class="mark"/>
<text x="10" y="20" class="legend">processes</text><text x="14" y="20" class="legend">threads</text></svg>
</body></html>`;
  const { page } = await open('chart-check-self-test', broken);
  const { problems } = await chartProblems(page);
  t.true(
    problems.some((p) => p.startsWith('empty: no data marks')),
    problems.join('\n'),
  );
  t.true(
    problems.some((p) => p.startsWith('nan: NaN')),
    problems.join('\n'),
  );
  t.true(
    problems.some((p) => p.startsWith('legend: legend entries 0 and 1 overlap')),
    problems.join('\n'),
  );
});

test.serial('trials with a saturated load generator are marked in the first picture and its caption', async (t) => {
  const experiment = readExample('quickstart.yaml');
  const shapes = {
    processes: (trial: number) => ({ rate: 120, unreliable: trial === 2 }),
    threads: () => ({ rate: 120 }),
  };
  const model = buildReport(buildRunOf(experiment, shapes), { generatedAt: GENERATED_AT });
  const { page, problems } = await open('saturated-generator', renderHtml(model));
  t.deepEqual(problems, []);
  // One trial of processes, in the throughput and the p99 panel.
  t.is(await page.locator('#hero .trial-dot.suspect').count(), 2);
  t.regex(
    (await page.locator('#hero figcaption').textContent()) ?? '',
    /Red dots: 1 trial\(s\) whose load generator was saturated/,
  );
});
