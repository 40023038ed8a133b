// Test harness for the Python workload: starts the real `python3 workloads/python/main.py` in its
// own process group (teardown kills every descendant), parses its JSON log lines, and talks HTTP
// over loopback. Same contract as the Node workload, so the same shapes (LogEvent, Ready, Stats).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
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
  pid: number;
  ready: boolean;
  restarts: number;
  lostUpdates: number;
  sharedState: { attempts: number; value: number } | null;
  workers: WorkerStats[];
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function sleep(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}

/** One request on a fresh connection (the workload closes after each response anyway). */
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

export const MAIN = fileURLToPath(new URL('../../../workloads/python/main.py', import.meta.url));

/** The interpreter under test: python3 on PATH, or CONCLAB_TEST_PYTHON (e.g. a venv with OpenTelemetry). */
export const PYTHON = process.env['CONCLAB_TEST_PYTHON'] || 'python3';

export class PythonWorkload {
  readonly child: ChildProcess;
  readonly events: LogEvent[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ready!: Ready;
  stderr = '';

  constructor(env: Record<string, string>, stdin: 'ignore' | 'pipe' = 'ignore') {
    // `ulimit -c 0`: the abort faults must not leave core files behind; exec keeps the pid.
    this.child = spawn('/bin/sh', ['-c', 'ulimit -c 0 && exec "$0" "$1"', PYTHON, MAIN], {
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
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
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
    return JSON.parse((await get(this.ready.adminPort, '/stats', 2000)).body) as Stats;
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

/** Starts the Python workload, waits for its ready line, and registers teardown. */
export async function startPython(
  t: ExecutionContext,
  env: Record<string, string>,
  stdin: 'ignore' | 'pipe' = 'ignore',
): Promise<PythonWorkload> {
  const workload = new PythonWorkload(env, stdin);
  t.teardown(() => workload.killGroup());
  workload.ready = (await workload.waitForEvent((e) => e.event === 'ready', 60_000, 'ready line')) as Ready;
  return workload;
}

/** Identities (worker/pid/thread headers) seen over up to maxRequests concurrent requests. */
export async function identitiesSeen(port: number, wanted: number, maxRequests: number, concurrency: number) {
  const seen = new Map<string, { worker: string; pid: string; thread: string }>();
  let sent = 0;
  async function lane(): Promise<void> {
    while (sent < maxRequests && seen.size < wanted) {
      sent++;
      const r = await request(port, '/work', 10_000).catch(() => undefined);
      if (r?.status !== 200) continue;
      const id = {
        worker: String(r.headers['x-conclab-worker']),
        pid: String(r.headers['x-conclab-pid']),
        thread: String(r.headers['x-conclab-thread']),
      };
      seen.set(id.worker, id);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return [...seen.values()];
}

/** User plus system CPU time of a process so far, in milliseconds (from /proc). */
export function processCpuMillis(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
