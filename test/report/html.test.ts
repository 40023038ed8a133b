// Renders the HTML report in real headless Chromium (/usr/bin/chromium) through
// playwright-core, checks what a reader sees, and keeps a screenshot in a temp dir.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { chromium } from 'playwright-core';
import { escapeHtml, renderHtml } from '../../operator/report/html.ts';
import { toJsonReport } from '../../operator/report/json.ts';
import { crashReport, quickstartReport } from './report-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

test('the page is self-contained: no external scripts, styles, images or links', (t) => {
  const html = renderHtml(crashReport());
  t.false(/\b(src|href)\s*=/.test(html));
  t.false(/@import|url\(/.test(html));
  t.false(/<script(?![^>]*type="application\/json")/.test(html));
  t.false(/https?:\/\//.test(html));
});

test('the embedded data is the JSON report and cannot close its script element', (t) => {
  const doc = toJsonReport(crashReport());
  doc.warnings.push('</script><b>x</b>');
  const html = renderHtml(doc);
  const data = html.slice(
    html.indexOf('id="conclab-report">') + 'id="conclab-report">'.length,
    html.lastIndexOf('</script>'),
  );
  t.false(data.includes('</script>'));
  t.deepEqual(JSON.parse(data).warnings.at(-1), '</script><b>x</b>');
  t.true(html.includes('<li>&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;</li>'));
});

test('escapeHtml escapes every character that could open markup or an attribute', (t) => {
  t.is(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('variant names are escaped inside the SVG charts too', (t) => {
  const doc = toJsonReport(crashReport());
  for (const v of doc.variants) v.name = `<${v.name}>`;
  for (const tr of doc.trials) tr.variant = `<${tr.variant}>`;
  const html = renderHtml(doc);
  t.false(html.includes('<process>'));
  t.true(html.includes('&lt;process&gt;'));
});

test('the HTML report renders in headless Chromium with its text, tables and SVG charts', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install it with apt-get install -y chromium`);
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclab-html-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const requests: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('data:') && !r.url().startsWith('file:')) requests.push(r.url());
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  const file = path.join(dir, 'report.html');
  writeFileSync(file, renderHtml(crashReport()));
  await page.goto(`file://${file}`, { waitUntil: 'load', timeout: 30_000 });

  t.is(await page.title(), 'conclab: default/quickstart');
  const verdict = await page.locator('#verdict').textContent();
  t.regex(verdict ?? '', /Verdict: Thread delivered \d+% more throughput than process/);
  // The first picture is the blast radius: a mean line per variant and a thin line per trial.
  t.is(await page.locator('#hero').getAttribute('data-kind'), 'blast-radius');
  t.is(await page.locator('#hero path.series').count(), 2 + 2 * 3);
  const box = await page.locator('#hero svg.chart').boundingBox();
  t.true((box?.width ?? 0) > 600 && (box?.height ?? 0) > 200, JSON.stringify(box));
  // Per second: two charts per variant.
  t.is(await page.locator('svg.chart[data-chart^="timeline-"]').count(), 4);
  t.is(await page.locator('table.results tbody tr').count(), 2);
  t.is(await page.locator('table.blast tbody tr').count(), 2);
  t.is(await page.locator('table.timeline').count(), 2);
  t.regex((await page.locator('body').textContent()) ?? '', /Caveats/);
  const embedded = JSON.parse((await page.locator('#conclab-report').textContent()) ?? '{}');
  t.is(embedded.schemaVersion, '1');
  t.deepEqual(requests, []);
  t.deepEqual(errors, []);

  const shot = path.join(dir, 'report.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.true(existsSync(shot));
  if (process.env.CONCLAB_KEEP_SCREENSHOT) {
    writeFileSync(process.env.CONCLAB_KEEP_SCREENSHOT, await page.screenshot({ fullPage: true }));
  }

  // A report without faults renders too, without a blast radius section.
  writeFileSync(file, renderHtml(quickstartReport(1)));
  await page.goto(`file://${file}`, { waitUntil: 'load', timeout: 30_000 });
  t.is(await page.locator('#blast-radius').count(), 0);
  t.is(await page.locator('#hero').getAttribute('data-kind'), 'comparison');
  t.is(await page.locator('svg.chart[data-chart^="timeline-"]').count(), 4);
});
