// One workload OS process: spawn it as the leader of its own process group, wait (bounded) for
// its one JSON ready line, then keep every later stdout JSON line as a timestamped event. When
// it dies before it is ready the error names the variant and shows its last stderr lines,
// because that is where a workload says what was wrong with its configuration.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** A JSON line the workload printed (or an event of the runtime), with when it was seen. */
export interface ObservedLine {
  atMillis: number;
  event: string;
  fields: Record<string, unknown>;
}

export interface ReadyAnnouncement {
  port: number;
  adminPort: number;
  pid: number | undefined;
}

/** Parses one stdout line; undefined for anything that is not a JSON object with an "event". */
export function parseWorkloadLine(line: string): { event: string; fields: Record<string, unknown> } | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(t) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const fields = value as Record<string, unknown>;
    return typeof fields['event'] === 'string' ? { event: fields['event'], fields } : undefined;
  } catch {
    return undefined;
  }
}

const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 65536;

/** The ports of a ready line, or undefined when the line is not a valid ready announcement. */
export function readyAnnouncement(fields: Record<string, unknown>): ReadyAnnouncement | undefined {
  if (fields['event'] !== 'ready' || !isPort(fields['port']) || !isPort(fields['adminPort'])) return undefined;
  const pid = fields['pid'];
  return { port: fields['port'], adminPort: fields['adminPort'], pid: typeof pid === 'number' ? pid : undefined };
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function describeExit(s: ExitStatus): string {
  return s.signal ? `was killed by ${s.signal}` : `exited with code ${s.code}`;
}

export interface RunningWorkload {
  child: ChildProcess;
  pid: number;
  ready: ReadyAnnouncement;
  /** From spawn to the ready line. */
  coldStartMillis: number;
  /** Settles when the process has exited. */
  exited: Promise<ExitStatus>;
  /** Whether it has exited already. */
  hasExited(): boolean;
  stderrTail(): string[];
}

export interface LaunchOptions {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Names the workload in errors: 'variant "threads" (trial 2)'. */
  label: string;
  readyTimeoutMillis: number;
  /** Every parsed stdout line, the ready line included. */
  onLine: (line: ObservedLine) => void;
  /** How many stderr lines to keep for error messages. */
  stderrLines?: number;
  /** Aborts the wait for the ready line (the deployment is being stopped): the process is killed. */
  signal?: AbortSignal;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Spawns and waits for the ready line; on failure the process group is killed and reaped. */
export async function launchWorkload(options: LaunchOptions): Promise<RunningWorkload> {
  const [file, ...args] = options.argv;
  if (!file) throw new Error(`${options.label}: empty workload command`);
  const keep = options.stderrLines ?? 20;
  const stderr: string[] = [];
  const startedAt = performance.now();
  // detached: the workload leads its own process group, so a signal to -pid reaches every
  // process it forks, and a Ctrl-C in the terminal does not reach it before conclab decides.
  // stdin is a pipe that only conclab holds open: if conclab dies, even by SIGKILL, the pipe
  // closes and the workload (told by CONCLAB_EXIT_WITH_STDIN) shuts itself down, so a crashed
  // run leaves no server behind. The next run's stale sweep removes the emptied cgroups.
  const child = spawn(file, args, {
    env: { ...options.env, CONCLAB_EXIT_WITH_STDIN: 'true' },
    cwd: options.cwd,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin?.on('error', () => {
    // EPIPE after the workload exited: nothing to do, the exit is handled below.
  });
  let exitStatus: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = { code, signal };
      resolve(exitStatus);
    });
    child.once('error', () => {
      // spawn failure (ENOENT): 'exit' may never come.
      if (!exitStatus) {
        exitStatus = { code: -1, signal: null };
        resolve(exitStatus);
      }
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const stderrDone = new Promise<void>((resolve) => {
    createInterface({ input: child.stderr! })
      .on('line', (line) => {
        stderr.push(line);
        if (stderr.length > keep) stderr.shift();
      })
      .on('close', () => resolve());
  });

  let onReady: (r: ReadyAnnouncement) => void = () => {};
  const readyPromise = new Promise<ReadyAnnouncement>((resolve) => {
    onReady = resolve;
  });
  let ready: ReadyAnnouncement | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const parsed = parseWorkloadLine(line);
    if (!parsed) return;
    options.onLine({ atMillis: Date.now(), event: parsed.event, fields: parsed.fields });
    if (!ready) {
      const r = readyAnnouncement(parsed.fields);
      if (r) {
        ready = r;
        onReady(r);
      }
    }
  });

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.readyTimeoutMillis);
  });
  let onAbort: () => void = () => {};
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  const outcome = await Promise.race([readyPromise, exited, timeout, aborted]);
  clearTimeout(timer);
  options.signal?.removeEventListener('abort', onAbort);

  const tail = () =>
    stderr.length > 0 ? `; last stderr lines:\n  ${stderr.join('\n  ')}` : '; it wrote nothing to stderr';
  if (outcome === 'timeout' || outcome === 'aborted' || !ready) {
    killGroup(child.pid, 'SIGKILL');
    const status = await Promise.race([exited, sleep(2000).then(() => undefined)]);
    await Promise.race([stderrDone, sleep(500)]);
    if (spawnError) throw new Error(`${options.label}: cannot start ${file}: ${spawnError.message}`);
    if (outcome === 'aborted') throw new Error(`${options.label}: start aborted because the workload is being stopped`);
    if (outcome === 'timeout') {
      throw new Error(
        `${options.label}: the workload did not print its ready line within ${options.readyTimeoutMillis} ms${tail()}`,
      );
    }
    throw new Error(
      `${options.label}: the workload ${describeExit(status ?? { code: null, signal: null })} before it was ready${tail()}`,
    );
  }
  return {
    child,
    pid: child.pid!,
    ready,
    coldStartMillis: performance.now() - startedAt,
    exited,
    hasExited: () => exitStatus !== undefined,
    stderrTail: () => [...stderr],
  };
}

/** Signals the process group of a workload (the leader's pid is the group id). */
export function signalWorkloadGroup(pid: number, signal: NodeJS.Signals): void {
  killGroup(pid, signal);
}
