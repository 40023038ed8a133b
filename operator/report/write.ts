// The one I/O shell of reporting: writes the chosen formats into a directory, each file
// atomically (temp file + rename), so a crash never leaves a half-written report behind.
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderHtml } from './html.ts';
import { type JsonReport, toJsonReport } from './json.ts';
import { renderMarkdown } from './markdown.ts';
import type { ReportModel } from './model.ts';

export const REPORT_FORMATS = ['json', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const REPORT_FILE_NAMES: Record<ReportFormat, string> = {
  json: 'report.json',
  md: 'report.md',
  html: 'report.html',
};

/** The report in one format, as text. */
export function renderReport(input: ReportModel | JsonReport, format: ReportFormat): string {
  const doc = 'schemaVersion' in input ? input : toJsonReport(input);
  switch (format) {
    case 'json':
      return `${JSON.stringify(doc, null, 2)}\n`;
    case 'md':
      return renderMarkdown(doc);
    case 'html':
      return renderHtml(doc);
    default:
      throw new Error(`unknown report format ${JSON.stringify(format)}; use one of ${REPORT_FORMATS.join(', ')}`);
  }
}

function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o644 });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/** Writes report.json, report.md and report.html (or the chosen formats); returns the paths. */
export function writeReports(
  model: ReportModel,
  dir: string,
  formats: readonly ReportFormat[] = REPORT_FORMATS,
): Record<ReportFormat, string | undefined> {
  mkdirSync(dir, { recursive: true });
  const doc = toJsonReport(model);
  const written: Record<ReportFormat, string | undefined> = { json: undefined, md: undefined, html: undefined };
  for (const format of formats) {
    const file = path.join(dir, REPORT_FILE_NAMES[format]);
    writeAtomically(file, renderReport(doc, format));
    written[format] = file;
  }
  return written;
}
