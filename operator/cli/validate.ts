// `conclab validate FILE...`: checks manifests by the rules the API server applies (schema,
// defaults, CEL rules) plus the CLI-side checks, printing every problem as one line.
import { readFile } from 'node:fs/promises';
import { text as readText } from 'node:stream/consumers';
import { checkManifest, formatProblem } from '../api/validate.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

export const help = `Usage: conclab validate [--quiet] FILE...   (FILE "-" reads standard input)

Checks ConcurrencyExperiment manifests (conclab.dev/v1alpha1) by the same rules the API
server applies to the CRD: the schema (types, ranges, allowed values; unknown fields are
errors), the defaults, and the cross-field rules (unique variant names, rate or stages as the
load pattern needs, faults within the load, ...). It also checks what only the CLI can:
resources.cpu from 10m to 64 cores, resources.memory from 32Mi to 256Gi, schedule as a
five-field cron expression. A file may hold several YAML documents separated by "---".

Every problem is printed on its own line, all of them, not just the first:

  FILE[#DOCUMENT]:LINE: FIELD: VALUE PROBLEM; allowed: WHAT IS ALLOWED

  #DOCUMENT (1-based) appears only for files with more than one document. For example:
  bad.yaml:17: spec.variants[0].workers: 0 is out of range; allowed: an integer from 1 to 256

Options:
  -q, --quiet   print nothing for valid files (problems are still printed)
  -h, --help    show this help

Exit codes:
  0  every file is valid
  1  at least one manifest is invalid
  2  usage error, or a file cannot be read

Example:
  npx conclab validate examples/*.yaml`;

export async function run(args: string[]): Promise<number> {
  const quiet = args.includes('-q') || args.includes('--quiet');
  const unknown = args.filter((arg) => arg.startsWith('-') && arg !== '-' && !['-q', '--quiet'].includes(arg));
  const files = args.filter((arg) => arg === '-' || !arg.startsWith('-'));
  if (unknown.length > 0 || files.length === 0) {
    console.error(
      unknown.length > 0
        ? `conclab validate: unknown option ${unknown.join(', ')}`
        : 'conclab validate: no FILE given; name one or more manifests',
    );
    console.error('Usage: conclab validate [--quiet] FILE...   (conclab validate --help for more)');
    return EXIT_USAGE;
  }
  let invalid = false;
  let unreadable = false;
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await readText(process.stdin) : await readFile(file, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      console.error(`${file}: cannot be read (${reason}); give the path of a YAML manifest`);
      unreadable = true;
      continue;
    }
    const { experiments, problems } = checkManifest(text, file === '-' ? '<stdin>' : file);
    for (const problem of problems) console.log(formatProblem(problem));
    if (problems.length > 0) invalid = true;
    else if (!quiet) {
      const names = experiments.map((experiment) => experiment.metadata.name).join(', ');
      console.log(`${file === '-' ? '<stdin>' : file}: valid (${names})`);
    }
  }
  if (unreadable) return EXIT_USAGE;
  return invalid ? EXIT_FAILED : EXIT_OK;
}
