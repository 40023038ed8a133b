// Test harness shared by the workloads' tests (Node and Python honour one contract): starts the
// real workload as a child process in its own process group (teardown kills every descendant),
// parses its JSON log lines, and talks HTTP over loopback.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { ExecutionContext } from 'ava';

export interface LogEvent {
  event: string;
  [field: string]: unknown;
}

export interface Ready extends LogEvent {
  port: number;
  adminPort: number;
  pid: number;
  model: string;
  workers: number;
  cpuIterationsPerMilli: number;
}

export interface WorkerStats {
  worker: number;
  pid: number;
  threadId: number;
  requests: number;
  errors: number;
  alive: boolean;
  serving: boolean;
  startedAt: number;
  replacedCount: number;
}

export interface Stats {
  model: string;
  pid?: number;
  ready: boolean;
  restarts: number;
  lostUpdates: number;
  sharedState: { attempts: number; value: number } | null;
  workers: WorkerStats[];
}

export class Workload {
  readonly child: ChildProcess;
  readonly events: LogEvent[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ready!: Ready;
  stderr = '';

  /** argv: the workload's command; stdin 'pipe' lets a test close it (CONCLAB_EXIT_WITH_STDIN). */
  constructor(argv: readonly string[], env: Record<string, string>, stdin: 'ignore' | 'pipe' = 'ignore') {
    // `ulimit -c 0`: the abort faults must not leave core files behind; exec keeps the pid.
    this.child = spawn('/bin/sh', ['-c', 'ulimit -c 0 && exec "$0" "$@"', ...argv], {
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/tmp',
        CONCLAB_HOST: '127.0.0.1',
        CONCLAB_PORT: '0',
        CONCLAB_ADMIN_PORT: '0',
        CONCLAB_CPU_MILLIS: '1',
        ...env,
      },
      stdio: [stdin, 'pipe', 'pipe'],
      detached: true,
    });
    let buffered = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          this.events.push(JSON.parse(line) as LogEvent);
        } catch {
          this.events.push({ event: 'unparsed', line });
        }
        newline = buffered.indexOf('\n');
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    // 'exit' can come before the last lines on stdout are read (Node: "stdio streams might
    // still be open"), and a test that reads the final events at once then misses them (CI saw
    // a shutdown without its "stopped" line). So the exit resolves once stdout has ended too,
    // or at most 1 s later: a process still holding the pipe (a leftover worker) must not
    // hide the exit itself, which tests time and check separately.
    const stdoutEnded = new Promise<void>((resolve) => this.child.stdout!.once('close', () => resolve()));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        const grace = new Promise<void>((r) => setTimeout(r, 1000).unref());
        void Promise.race([stdoutEnded, grace]).then(() => resolve({ code, signal }));
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  async waitForEvent(predicate: (event: LogEvent) => boolean, timeoutMillis: number, what: string): Promise<LogEvent> {
    const deadline = Date.now() + timeoutMillis;
    while (Date.now() < deadline) {
      const found = this.events.find(predicate);
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) break;
      await sleep(20);
    }
    const found = this.events.find(predicate);
    if (found !== undefined) return found;
    throw new Error(
      `no ${what} within ${timeoutMillis} ms; events: ${JSON.stringify(this.events)}; stderr: ${this.stderr}`,
    );
  }

  async stats(): Promise<Stats> {
    const response = await get(this.ready.adminPort, '/stats', 2000);
    return JSON.parse(response.body) as Stats;
  }

  /** Any admin endpoint, e.g. admin('GET', '/stats?since=3&detail=1') or admin('POST', '/flush'). */
  async admin(method: 'GET' | 'POST', path: string, timeoutMillis = 10_000): Promise<Response> {
    return request(this.ready.adminPort, path, timeoutMillis, method);
  }

  /** GET /stats with a query, parsed but untyped: the contract tests check it against the schema. */
  async statsJson(query = ''): Promise<Record<string, unknown>> {
    const response = await get(this.ready.adminPort, `/stats${query}`, 5000);
    if (response.status !== 200) throw new Error(`GET /stats${query} answered ${response.status}: ${response.body}`);
    return JSON.parse(response.body) as Record<string, unknown>;
  }

  async readyz(): Promise<number> {
    return (await get(this.ready.adminPort, '/readyz', 2000)).status;
  }

  async fault(kind: string, worker: number): Promise<number> {
    return (await request(this.ready.adminPort, `/fault?kind=${kind}&worker=${worker}`, 2000, 'POST')).status;
  }

  /** Polls until the condition holds; returns false on timeout (the caller asserts). */
  async until(condition: () => Promise<boolean>, timeoutMillis: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMillis;
    while (Date.now() < deadline) {
      try {
        if (await condition()) return true;
      } catch {
        // the server may be between states; try again
      }
      await sleep(50);
    }
    return false;
  }

  /** Kills the whole process group; safe to call when it is already gone. */
  killGroup(signal: NodeJS.Signals = 'SIGKILL'): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Starts a workload, waits (bounded) for its ready line, and registers teardown. */
export async function startWorkloadProcess(
  t: ExecutionContext,
  argv: readonly string[],
  env: Record<string, string>,
  options: { stdin?: 'ignore' | 'pipe'; readyTimeoutMillis?: number } = {},
): Promise<Workload> {
  const workload = new Workload(argv, env, options.stdin);
  t.teardown(() => workload.killGroup());
  const timeout = options.readyTimeoutMillis ?? 30_000;
  workload.ready = (await workload.waitForEvent((e) => e.event === 'ready', timeout, 'ready line')) as Ready;
  return workload;
}

export function sleep(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no keep-alive), so reusePort spreads requests over workers. */
export function request(
  port: number,
  path: string,
  timeoutMillis: number,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method, agent: false, headers: { connection: 'close', ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMillis, () => req.destroy(new Error(`timeout after ${timeoutMillis} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export function get(port: number, path: string, timeoutMillis: number): Promise<Response> {
  return request(port, path, timeoutMillis);
}

/** True while a process with this pid exists (a zombie counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends many requests with bounded concurrency; returns the responses that completed. */
export async function burst(port: number, count: number, concurrency: number, timeoutMillis = 5000) {
  const results: Array<Response | Error> = [];
  let next = 0;
  async function lane() {
    while (next < count) {
      next++;
      results.push(await request(port, '/work', timeoutMillis).catch((e: Error) => e));
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return results;
}
