// Where a run's results go: a fresh folder per run, named so that `ls` sorts runs by time,
// claimed before anything starts. Claiming creates it (exclusively, for the default name: a
// second run started in the same second gets "-2") and proves a file can be written and
// renamed there, so an unusable --out fails in milliseconds instead of after the whole run.
//
// Folders are created one path component at a time: the recursive mkdir of Node loops forever
// on a file system that refuses the last component with ENOENT (/proc), so it is never used on a
// path the user gave.
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** An output location that cannot be used; the message names the path, the reason and the fix. */
export class OutputDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputDirError';
  }
}

/** `conclab-results/quickstart-20261125-225400` (UTC), or the folder the user named. */
export function resultsDir(experimentName: string, requested: string | undefined, now = new Date()): string {
  if (requested) return path.resolve(requested);
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace('T', '-')
    .replace(/\.\d+Z$/, '');
  return path.resolve('conclab-results', `${experimentName}-${stamp}`);
}

export interface ClaimedDir {
  dir: string;
  /** Whether this run created it (then it may remove it again when it wrote nothing). */
  created: boolean;
  /** Removes the folder when this run created it and nothing is in it. */
  removeIfUnused(): void;
}

const MAX_SUFFIX = 1000;

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'error';
}

function reason(err: unknown): string {
  const c = code(err);
  const plain: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    ENOENT: 'the file system does not allow creating it',
    ENOTDIR: 'a part of the path is not a folder',
    ENAMETOOLONG: 'the name is too long',
  };
  return `${c}: ${plain[c] ?? (err as Error).message}`;
}

/** true: a folder (or a link to one); false: something else; undefined: nothing there. */
function isDir(p: string): boolean | undefined {
  try {
    return statSync(p).isDirectory();
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Makes every missing folder of `dir`, one component at a time; throws OutputDirError naming the one that failed. */
function makeParents(dir: string, what: string): void {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (const part of parts) {
    current = path.join(current, part);
    let state: boolean | undefined;
    try {
      state = isDir(current);
    } catch (err) {
      throw new OutputDirError(`${what}: cannot look at ${current} (${reason(err)})`);
    }
    if (state === true) continue;
    if (state === false) throw new OutputDirError(`${what}: ${current} exists and is not a folder`);
    try {
      mkdirSync(current);
    } catch (err) {
      if (code(err) === 'EEXIST' && isDir(current)) continue;
      throw new OutputDirError(`${what}: cannot create ${current} (${reason(err)})`);
    }
  }
}

/** Proves that a file can be written and renamed in `dir` (the reports are written that way). */
function probeWrite(dir: string, what: string): void {
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const temp = path.join(dir, `.conclab-probe-${tag}.tmp`);
  const final = path.join(dir, `.conclab-probe-${tag}`);
  try {
    writeFileSync(temp, 'conclab\n', { flag: 'wx' });
    renameSync(temp, final);
  } catch (err) {
    throw new OutputDirError(`${what}: cannot write files in ${dir} (${reason(err)})`);
  } finally {
    rmSync(temp, { force: true });
    rmSync(final, { force: true });
  }
}

/**
 * Claims the results folder of a run before anything starts: the named one (created if missing,
 * reused if it is a folder), or a new default one under conclab-results/ (never one that
 * exists: "-2", "-3", ... on collision). Throws OutputDirError when it cannot be used.
 */
export function claimResultsDir(experimentName: string, requested: string | undefined, now = new Date()): ClaimedDir {
  const base = resultsDir(experimentName, requested, now);
  const what = requested ? `--out ${requested}` : 'the results folder';
  makeParents(path.dirname(base), what);
  let dir = base;
  let created = false;
  if (requested) {
    let state: boolean | undefined;
    try {
      state = isDir(base);
    } catch (err) {
      throw new OutputDirError(`${what}: cannot look at ${base} (${reason(err)})`);
    }
    if (state === false) throw new OutputDirError(`${what}: ${base} exists and is not a folder`);
    if (state === undefined) {
      try {
        mkdirSync(base);
        created = true;
      } catch (err) {
        if (!(code(err) === 'EEXIST' && isDir(base))) {
          throw new OutputDirError(`${what}: cannot create ${base} (${reason(err)})`);
        }
      }
    }
  } else {
    for (let n = 1; ; n++) {
      dir = n === 1 ? base : `${base}-${n}`;
      try {
        mkdirSync(dir);
        created = true;
        break;
      } catch (err) {
        if (code(err) !== 'EEXIST') throw new OutputDirError(`${what}: cannot create ${dir} (${reason(err)})`);
        if (n >= MAX_SUFFIX) {
          throw new OutputDirError(`${what}: ${base} and ${MAX_SUFFIX - 1} numbered variants exist already`);
        }
      }
    }
  }
  const removeIfUnused = () => {
    if (!created) return;
    try {
      rmdirSync(dir);
    } catch {
      // Not empty (something was written) or gone: keep it.
    }
  };
  try {
    probeWrite(dir, what);
  } catch (err) {
    removeIfUnused();
    throw err;
  }
  return { dir, created, removeIfUnused };
}
