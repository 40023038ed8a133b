// `conclab validate FILE...`: checks manifests as kubectl and the API server would (the same
// parse, schema, defaults and CEL rules) plus the few CLI-side checks, printing every problem as
// one line.
import { checkManifest, formatProblem, readManifest } from '../api/validate.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

export const help = `Usage: conclab validate [--quiet] FILE...   (FILE "-" reads standard input)

Checks ConcurrencyExperiment manifests (conclab.dev/v1alpha1) and reaches the verdict that
kubectl and the API server reach on them: the file is read as kubectl reads it (YAML 1.1 as
kubectl resolves it: 010 is 8, yes/no/on/off are booleans, 1_000 is 1000, a later duplicate key
wins), metadata is checked as the API server checks it (names, labels, annotations of at most
256 KiB), then the CRD's schema (types, ranges, allowed values; unknown fields are errors), the
defaults, the bounds of every duration and quantity and the cross-field rules (unique variant
names, rate or stages as the load pattern needs, faults within the load, ...), each of which
the CRD also enforces with a CEL rule. Only a cron schedule's semantics (ranges low to high, no
repeated value, a day the month has) are checked by conclab alone. A file over 1.5 MiB is
refused unread. A file may hold several YAML documents separated by "---".

Every problem is printed on its own line, all of them, not just the first:

  FILE[#DOCUMENT]:LINE: FIELD: VALUE PROBLEM; allowed: WHAT IS ALLOWED

  #DOCUMENT (1-based) appears only for files with more than one document. For example:
  bad.yaml:17: spec.variants[0].workers: 0 is out of range; allowed: an integer from 1 to 256

Warnings (a duplicate key, whose later value kubectl uses too) go to standard error and do not
change the exit code.

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
    let read: Awaited<ReturnType<typeof readManifest>>;
    try {
      read = await readManifest(file);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      console.error(`${file}: cannot be read (${reason}); give the path of a YAML manifest`);
      unreadable = true;
      continue;
    }
    const { experiments, problems, warnings } =
      'tooLarge' in read
        ? { experiments: [], problems: [read.tooLarge], warnings: [] }
        : checkManifest(read.text, file === '-' ? '<stdin>' : file);
    for (const warning of warnings) console.error(formatProblem(warning));
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
