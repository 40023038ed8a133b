// `npm run generate`: writes every file derived from the schema (the CRD, the chart's copy of
// it, the README's manifest reference). `npm run generate:check` (this with --check) writes
// nothing and fails when a committed file differs from what would be generated, naming it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdYaml } from './crd.ts';
import { withReference } from './reference.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CRD_FILE = 'crds/conclab.dev_concurrencyexperiments.yaml';
export const CHART_CRD_FILE = 'charts/conclab/crds/conclab.dev_concurrencyexperiments.yaml';
export const README_FILE = 'README.md';

/** Every generated file (path relative to the repository root) and its expected content. */
export async function generatedFiles(root = ROOT): Promise<Map<string, string>> {
  const crd = crdYaml();
  const readmePath = join(root, README_FILE);
  const readme = existsSync(readmePath) ? await readFile(readmePath, 'utf8') : '';
  return new Map([
    [CRD_FILE, crd],
    [CHART_CRD_FILE, crd],
    [README_FILE, withReference(readme)],
  ]);
}

/** Paths whose committed content differs from the generated one. */
export async function staleFiles(root = ROOT): Promise<string[]> {
  const stale: string[] = [];
  for (const [file, content] of await generatedFiles(root)) {
    const path = join(root, file);
    const current = existsSync(path) ? await readFile(path, 'utf8') : undefined;
    if (current !== content) stale.push(file);
  }
  return stale;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--check')) {
    const stale = await staleFiles();
    if (stale.length === 0) {
      console.log('generated files are up to date');
      return 0;
    }
    for (const file of stale) console.error(`${file}: differs from what operator/api/generate.ts produces`);
    console.error('Fix: run `npm run generate` and commit the result.');
    return 1;
  }
  for (const [file, content] of await generatedFiles()) {
    const path = join(ROOT, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    console.log(`wrote ${relative(ROOT, path)}`);
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));
