// `npm test`: runs ava with TAP output, shows it, and ends with the one summary line that CI
// and people both read: `tests: N passed, N failed`. Arguments pass through to ava
// (`npm test -- test/api/**`). Exits non-zero when a test failed or none ran.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { summarizeTap } from './tap-summary.ts';

const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.js', '--tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const lines: string[] = [];
createInterface({ input: ava.stdout }).on('line', (line) => {
  lines.push(line);
  console.log(line);
});
const code: number = await new Promise((resolve) => ava.on('close', (c) => resolve(c ?? 1)));
const { passed, failed, skipped } = summarizeTap(lines);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(code !== 0 || failed > 0 || passed === 0 ? 1 : 0);
