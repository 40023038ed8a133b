// The results folder of `conclab run` (operator/cli/output.ts) on the real file system: claimed
// before anything starts, never shared by two runs, and an unusable location refused at once
// with the path and the reason (among them the two that used to fail after the whole run or
// loop forever in mkdir: /sys and /proc).
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { claimResultsDir, OutputDirError, resultsDir } from '../../operator/cli/output.ts';

function tempDir(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclab-output-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the default folder is named by experiment and UTC time, and a second run in the same second gets its own', (t) => {
  const cwd = tempDir(t);
  const before = process.cwd();
  process.chdir(cwd);
  t.teardown(() => process.chdir(before));
  const now = new Date('2026-11-25T22:54:00.123Z');
  t.is(resultsDir('quickstart', undefined, now), path.join(cwd, 'conclab-results', 'quickstart-20261125-225400'));
  const a = claimResultsDir('quickstart', undefined, now);
  const b = claimResultsDir('quickstart', undefined, now);
  const c = claimResultsDir('quickstart', undefined, now);
  t.is(a.dir, path.join(cwd, 'conclab-results', 'quickstart-20261125-225400'));
  t.is(b.dir, `${a.dir}-2`);
  t.is(c.dir, `${a.dir}-3`);
  t.true(a.created && b.created && c.created);
  // The probe left nothing behind.
  t.deepEqual(readdirSync(a.dir), []);
  // A folder the run wrote into stays; one it did not use goes.
  writeFileSync(path.join(a.dir, 'report.json'), '{}');
  a.removeIfUnused();
  b.removeIfUnused();
  t.true(existsSync(a.dir));
  t.false(existsSync(b.dir));
});

test('a named folder is created with its missing parents, or reused; a reused one is never removed', (t) => {
  const root = tempDir(t);
  const nested = path.join(root, 'a', 'b', 'results');
  const claimed = claimResultsDir('x', nested);
  t.is(claimed.dir, nested);
  t.true(claimed.created);
  const again = claimResultsDir('x', nested);
  t.false(again.created, 'it exists now: reused');
  again.removeIfUnused();
  t.true(existsSync(nested));
});

test('an unusable location is refused at once, naming the path and the reason, and leaves nothing', (t) => {
  const root = tempDir(t);
  const file = path.join(root, 'a-file');
  writeFileSync(file, 'x');
  const cases: [string, RegExp][] = [
    ['/sys/forbidden', /^--out \/sys\/forbidden: cannot create \/sys\/forbidden \(EPERM: operation not permitted\)$/],
    // mkdir -p loops forever here in Node (ENOENT for a parent that exists): refused, not spun on.
    [
      '/proc/forbidden',
      /^--out \/proc\/forbidden: cannot create \/proc\/forbidden \(ENOENT: the file system does not allow creating it\)$/,
    ],
    [path.join(file, 'results'), /: .*a-file exists and is not a folder$/],
    [file, /: .*a-file exists and is not a folder$/],
  ];
  for (const [out, message] of cases) {
    const started = performance.now();
    const err = t.throws(() => claimResultsDir('x', out), { instanceOf: OutputDirError });
    t.regex(err!.message, message, out);
    t.true(performance.now() - started < 2000, `${out} took ${performance.now() - started} ms`);
  }
  t.deepEqual(readdirSync(root), ['a-file']);
});

const rootTest = process.getuid?.() === 0 ? test : test.skip;

rootTest(
  'a folder the user cannot write is refused before anything starts (as the unprivileged "nobody")',
  async (t) => {
    const root = tempDir(t);
    chmodSync(root, 0o755); // root's: nobody may enter but not write
    const script = path.join(root, 'claim.mjs');
    writeFileSync(
      script,
      `const { claimResultsDir } = await import(process.argv[2]);
try { claimResultsDir('x', process.argv[3]); console.log('claimed'); } catch (e) { console.log(e.message); }
`,
    );
    const entry = new URL('../../operator/cli/output.ts', import.meta.url).pathname;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [script, entry, path.join(root, 'results')],
        { uid: 65534, gid: 65534, timeout: 60_000 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    t.regex(stdout, /cannot create .*results \(EACCES: permission denied\)/);
    t.false(existsSync(path.join(root, 'results')));
  },
);
