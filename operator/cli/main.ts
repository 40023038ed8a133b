// The `conclab` command: a small dispatcher. Each command lives in its own file next to this
// one and is loaded only when it runs, so `conclab validate` never pays for the Kubernetes
// client or the telemetry SDK. To add a command, write `NAME.ts` exporting
// `run(args): Promise<number>` (the exit code) and `help` (its --help text), and add one line
// to COMMANDS.

/** A command's module: what `conclab NAME ...` loads. */
export interface Command {
  /** Text printed by `conclab NAME --help`. */
  help: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

import { EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

interface CommandEntry {
  summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  run: { summary: 'run an experiment on this machine and report', load: () => import('./run.ts') },
  validate: { summary: 'check manifests by the rules the API server applies', load: () => import('./validate.ts') },
  report: { summary: "print a finished experiment's report from the cluster", load: () => import('./report.ts') },
  operator: { summary: 'run the Kubernetes operator (what the chart deploys)', load: () => import('./operator.ts') },
  trial: {
    summary: "measure one trial of a variant's pods and post the record (what load pods run)",
    load: () => import('./trial.ts'),
  },
  generate: {
    summary: "run a share of a trial's load when its load pod asks (what generator pods run)",
    load: () => import('./generate.ts'),
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return [
    'conclab: processes or threads? Measure it under equal CPU and memory limits.',
    '',
    'Usage: conclab COMMAND [options] [arguments]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    "  -h, --help     show this help, or a command's help after its name (conclab validate --help)",
    '  -v, --version  print the conclab version',
    '',
    'Exit codes: 0 success, 1 the command found a problem (invalid manifest, failed run), 2 usage error,',
    '  128 + signal number when interrupted (130 for Ctrl-C).',
  ].join('\n');
}

/** Runs conclab with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic !== undefined && COMMANDS[topic] !== undefined) {
      console.log((await COMMANDS[topic].load()).help);
      return EXIT_OK;
    }
    if (name === undefined) {
      console.error(usage());
      return EXIT_USAGE;
    }
    console.log(usage());
    return EXIT_OK;
  }
  if (name === '-v' || name === '--version') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    console.log(pkg.version);
    return EXIT_OK;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    console.error(`conclab: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
    console.error('Run `conclab --help` for usage.');
    return EXIT_USAGE;
  }
  const command = await entry.load();
  if (rest.includes('-h') || rest.includes('--help')) {
    console.log(command.help);
    return EXIT_OK;
  }
  return command.run(rest);
}
