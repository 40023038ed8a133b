// `conclab generate`: what a cluster's generator pods run (spec.load.generators > 1). An HTTP
// server on the pod IP that runs one share of a load plan when the trial's coordinator (the load
// pod running `conclab trial`) asks, from the common start it names, and answers with its part
// of the result; the coordinator merges the parts exactly. It injects no faults and receives no
// spans. The protocol is operator/load/remote-generator.ts's.
import { parseArgs } from 'node:util';
import { GENERATE_PORT, type GeneratorServer, startGeneratorServer } from '../load/remote-generator.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';

export const help = `Usage: conclab generate [--host ADDRESS] [--port N]

What the operator's generator pods run: an HTTP server that runs one share of a trial's load
plan when the trial's load pod asks (POST /v1/part with the experiment's bearer token) and
answers with that share's result, which the load pod merges with the others'.
  --host ADDRESS   address to listen on (default $CONCLAB_HOST, else 127.0.0.1)
  --port N         port (default $CONCLAB_GENERATE_PORT, else ${GENERATE_PORT}; 0 picks a free one)
Environment: CONCLAB_TOKEN (required: every POST must present it), CONCLAB_K6_PATH (directory
holding k6, for load.driver k6). Prints "conclab generate: serving on URL" once it listens;
SIGTERM or SIGINT stops it (a running part is aborted).`;

export async function run(argv: string[]): Promise<number> {
  let values: { host?: string | undefined; port?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { host: { type: 'string' }, port: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    console.error(`conclab generate: ${(err as Error).message}\n\n${help}`);
    return EXIT_USAGE;
  }
  const portText = values.port ?? process.env['CONCLAB_GENERATE_PORT'] ?? String(GENERATE_PORT);
  const port = Number(portText);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    console.error(`conclab generate: --port ${portText} is not a port number (0 to 65535)`);
    return EXIT_USAGE;
  }
  const token = process.env['CONCLAB_TOKEN'] ?? '';
  if (token.length < 16) {
    console.error(
      "conclab generate: CONCLAB_TOKEN must hold the experiment's token (16 characters or more): the load pod presents it",
    );
    return EXIT_USAGE;
  }
  const k6Dir = process.env['CONCLAB_K6_PATH'];
  let server: GeneratorServer;
  try {
    server = await startGeneratorServer({
      host: values.host ?? (process.env['CONCLAB_HOST'] || '127.0.0.1'),
      port,
      token,
      load: k6Dir ? { k6: { pathEnv: k6Dir } } : {},
      log: (line) => console.error(`conclab generate: ${line}`),
    });
  } catch (err) {
    console.error(`conclab generate: cannot listen: ${(err as Error).message}`);
    return EXIT_FAILED;
  }
  console.error(`conclab generate: serving on ${server.url}`);
  // In a pod this is PID 1, which gets no default signal handling: stop on SIGTERM ourselves,
  // so deleting the pod does not wait out its grace period.
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  console.error(`conclab generate: ${signal}: stopping`);
  await server.close();
  return EXIT_OK;
}
