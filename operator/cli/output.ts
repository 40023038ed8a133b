// Where a run's results go: a fresh folder per run, named so that `ls` sorts runs by time.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

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

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
