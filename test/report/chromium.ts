// Real headless Chromium (/usr/bin/chromium through playwright-core) for the report tests:
// a fresh profile per launch, no network, every console error and page error collected, and
// the checks a reader's eye would make of a chart, run inside the page.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where screenshots are kept for a person to open: outside the repository, kept after the run. */
export function screenshotDir(): string {
  const dir = path.join(process.env.TMPDIR ?? os.tmpdir(), 'conclab-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh user-data-dir, removed again on close. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with apt-get install -y chromium`);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'conclab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1280, height: 800 },
    timeout: 90_000,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface PageWatch {
  page: Page;
  /** Console errors, page errors and any request that left the file (all must stay empty). */
  problems: string[];
}

export async function watchedPage(browser: Browser): Promise<PageWatch> {
  const page = await browser.context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
    problems.push(`network request: ${url}`);
    return route.abort();
  });
  return { page, problems };
}

/**
 * Problems of the charts on the page, as an eye would see them: a chart without data marks, a
 * mark with no extent or with NaN in its coordinates, legend entries drawn over each other.
 */
export async function chartProblems(page: Page): Promise<{ charts: string[]; problems: string[] }> {
  return (await page.evaluate(CHART_CHECK)) as { charts: string[]; problems: string[] };
}

// Plain JavaScript run in the page (the project's TypeScript has no DOM types).
const CHART_CHECK = String.raw`(() => {
  const problems = [];
  const charts = [];
  for (const svg of Array.from(document.querySelectorAll('svg.chart'))) {
    const id = svg.getAttribute('data-chart') || '?';
    charts.push(id);
    if (/NaN|Infinity|undefined/.test(svg.outerHTML)) problems.push(id + ': NaN, Infinity or undefined in the SVG');
    const marks = Array.from(svg.querySelectorAll('.mark'));
    const real = marks.filter((m) => {
      const b = m.getBBox();
      if (m.tagName === 'path') return /\d/.test(m.getAttribute('d') || '') && (b.width > 0 || b.height > 0);
      return b.width > 0 && b.height > 0;
    });
    if (real.length === 0) problems.push(id + ': no data marks with an extent (' + marks.length + ' marks)');
    const box = svg.getBoundingClientRect();
    if (box.width < 200 || box.height < 80) problems.push(id + ': drawn ' + box.width + 'x' + box.height);
    const legends = Array.from(svg.querySelectorAll('text.legend')).map((l) => l.getBoundingClientRect());
    for (let i = 0; i < legends.length; i++) {
      for (let j = i + 1; j < legends.length; j++) {
        const a = legends[i];
        const b = legends[j];
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) {
          problems.push(id + ': legend entries ' + i + ' and ' + j + ' overlap');
        }
      }
      if (legends[i].right > box.right + 1) problems.push(id + ': legend entry ' + i + ' runs past the chart');
    }
  }
  return { charts, problems };
})()`;
