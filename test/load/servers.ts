// Real HTTP servers on 127.0.0.1 (port 0) for the load driver tests. Each records when
// requests arrived so tests can check the spacing the driver produced.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ExecutionContext } from 'ava';

export interface TestServer {
  url: string;
  server: http.Server;
  /** performance.now() of each request's arrival, in arrival order. */
  arrivals: number[];
}

export async function startServer(
  t: ExecutionContext,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<TestServer> {
  const arrivals: number[] = [];
  const server = http.createServer((req, res) => {
    arrivals.push(performance.now());
    handler(req, res);
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/work`, server, arrivals };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/work`;
}

/**
 * A server in its own process whose event loop blocks for `stallMillis` when its request
 * number `stallAtRequest` (1-based) arrives: the whole server stops answering meanwhile,
 * as a real server does during a long GC pause or a blocking call.
 */
export async function startStallingServer(
  t: ExecutionContext,
  stallAtRequest: number,
  stallMillis: number,
): Promise<string> {
  const source = `
    const http = require('node:http');
    let n = 0;
    const server = http.createServer((req, res) => {
      n++;
      if (n === ${stallAtRequest}) { const end = Date.now() + ${stallMillis}; while (Date.now() < end); }
      res.end('ok');
    });
    server.keepAliveTimeout = 10000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  `;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('stalling server did not start within 10 s')), 10_000);
    child.stdout.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(d.toString().trim());
    });
    child.once('exit', (code) => reject(new Error(`stalling server exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}/work`;
}
