/** Counts TAP test points. `# SKIP` and `# TODO` points are skipped, not passed. */
export function summarizeTap(lines: readonly string[]): { passed: number; failed: number; skipped: number } {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const line of lines) {
    const m = /^(not ok|ok)\b(.*)$/.exec(line);
    if (!m) continue;
    if (/#\s*(SKIP|TODO)\b/i.test(m[2] ?? '')) skipped++;
    else if (m[1] === 'ok') passed++;
    else failed++;
  }
  return { passed, failed, skipped };
}
