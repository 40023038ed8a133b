// One measuring run per machine. Two runs at once pin their load generators and workloads to
// the same CPUs and corrupt each other's figures (p99 from 13 ms to seconds, both still printing
// verdicts), so `conclab run` takes this lock before it starts anything and holds it to the end.
//
// The lock is a Unix socket in Linux's abstract namespace (a name, not a file): binding it is
// atomic, only one process can hold it, and the kernel releases it the moment the holder dies,
// even by SIGKILL, so no stale lock file, pid file or pid reuse can leave it stuck. Its holder
// answers whoever connects with who it is (pid, experiment, since when), so a refusal can name
// the other run. The socket is close-on-exec: the workloads conclab starts do not hold it.
// Scope: processes that share the network namespace (the machine, outside containers).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Who holds the lock: what a waiting or refused run is told. */
export interface RunHolder {
  pid: number;
  /** Name of the experiment being run. */
  experiment: string;
  /** The manifest file, as given. */
  file: string;
  /** Epoch ms when the holder took the lock. */
  sinceMillis: number;
  /** Where the holder writes its results. */
  resultsDir: string;
}

/** The machine-wide lock name; CONCLAB_RUN_LOCK overrides it (tests use their own). */
export const DEFAULT_RUN_LOCK = 'conclab-run';

export interface RunLock {
  readonly holder: RunHolder;
  release(): Promise<void>;
}

/** Thrown when another run holds the lock past the wait (or at once with waitMillis 0). */
export class RunLockBusyError extends Error {
  readonly holder: RunHolder | undefined;
  readonly ownerPids: number[];
  constructor(message: string, holder: RunHolder | undefined, ownerPids: number[]) {
    super(message);
    this.name = 'RunLockBusyError';
    this.holder = holder;
    this.ownerPids = ownerPids;
  }
}

export interface AcquireOptions {
  /** Lock name (abstract socket name without the leading NUL). Default: DEFAULT_RUN_LOCK. */
  name?: string;
  /** What this run tells others while it holds the lock. */
  holder: RunHolder;
  /** How long to wait for another holder to finish; 0 refuses at once. */
  waitMillis: number;
  /** Aborts the wait (Ctrl-C): the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called when the lock is found held, and again whenever the holder changes. */
  onBusy?: (holder: RunHolder | undefined, ownerPids: number[]) => void;
  /** Between two attempts while waiting. Default 500. */
  pollMillis?: number;
}

function address(name: string): string {
  return `\0${name}`;
}

/** Binds the lock; 'busy' when another process holds it. */
function tryBind(name: string, holder: RunHolder): Promise<net.Server | 'busy'> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.end(`${JSON.stringify({ kind: 'conclab-run', ...holder })}\n`);
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve('busy');
      else reject(new Error(`cannot take the run lock "${name}": ${err.message}`));
    });
    server.listen({ path: address(name) }, () => {
      // Holding the lock must not keep conclab alive once it is done.
      server.unref();
      resolve(server);
    });
  });
}

/** Asks the holder who it is; undefined when it does not answer as a conclab run within the bound. */
export function queryHolder(name: string = DEFAULT_RUN_LOCK, timeoutMillis = 2000): Promise<RunHolder | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect({ path: address(name) });
    const done = (value: RunHolder | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), timeoutMillis);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 64 * 1024) done(undefined);
    });
    socket.on('error', () => done(undefined));
    socket.on('end', () => done(parseHolder(text)));
  });
}

/** A holder's answer, checked field by field (anything can sit on the name). */
export function parseHolder(text: string): RunHolder | undefined {
  try {
    const v = JSON.parse(text.trim()) as Record<string, unknown>;
    if (v['kind'] !== 'conclab-run') return undefined;
    const { pid, experiment, file, sinceMillis, resultsDir } = v;
    if (!Number.isInteger(pid) || typeof experiment !== 'string' || typeof file !== 'string') return undefined;
    if (typeof sinceMillis !== 'number' || typeof resultsDir !== 'string') return undefined;
    return { pid: pid as number, experiment, file, sinceMillis, resultsDir };
  } catch {
    return undefined;
  }
}

/**
 * The pids that hold the lock's socket open, from the kernel's view (/proc/net/unix and
 * /proc/PID/fd): who is really there, whatever it says. Empty when not visible (not root).
 */
export function lockOwnerPids(name: string = DEFAULT_RUN_LOCK): number[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return [];
  }
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path; an abstract name shows as @name.
    if (fields[7] === `@${name}`) inodes.add(fields[6] ?? '');
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1] ?? '')) {
          pids.push(Number(entry));
          break;
        }
      } catch {
        // Closed while we looked.
      }
    }
  }
  return pids;
}

/**
 * Takes the machine's run lock, waiting up to waitMillis for another holder to finish. Rejects
 * with RunLockBusyError (naming the holder) when the wait ends first, or with the abort reason.
 */
export async function acquireRunLock(options: AcquireOptions): Promise<RunLock> {
  const name = options.name ?? DEFAULT_RUN_LOCK;
  const pollMillis = options.pollMillis ?? 500;
  const deadline = Date.now() + Math.max(0, options.waitMillis);
  let lastSeen: string | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const bound = await tryBind(name, options.holder);
    if (bound !== 'busy') {
      const server = bound;
      let released = false;
      return {
        holder: options.holder,
        release: async () => {
          if (released) return;
          released = true;
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    }
    const holder = await queryHolder(name);
    const ownerPids = holder ? [] : lockOwnerPids(name);
    const seen = holder ? `${holder.pid}@${holder.sinceMillis}` : `?${ownerPids.join(',')}`;
    if (Date.now() >= deadline) {
      throw new RunLockBusyError(busyMessage(holder, ownerPids, Date.now()), holder, ownerPids);
    }
    if (seen !== lastSeen) {
      lastSeen = seen;
      options.onBusy?.(holder, ownerPids);
    }
    await sleep(Math.min(pollMillis, Math.max(1, deadline - Date.now())), undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
    }).catch(() => {});
  }
}

/** "3m 05s", "42 s": how long ago, for people. */
export function formatAge(millis: number): string {
  const s = Math.max(0, Math.round(millis / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** Who holds the machine, in one line. */
export function describeHolder(holder: RunHolder | undefined, ownerPids: number[], nowMillis: number): string {
  if (!holder) {
    const who = ownerPids.length ? `process ${ownerPids.join(', ')}` : 'a process this user cannot see';
    return `${who} holds conclab's run lock but does not answer as a conclab run`;
  }
  const since = new Date(holder.sinceMillis)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return (
    `another conclab run is using this machine: pid ${holder.pid}, experiment "${holder.experiment}" ` +
    `(${holder.file}), running since ${since} (${formatAge(nowMillis - holder.sinceMillis)}), results in ${holder.resultsDir}`
  );
}

/** The refusal: who, why it matters, and the fix. */
export function busyMessage(holder: RunHolder | undefined, ownerPids: number[], nowMillis: number): string {
  const pid = holder?.pid ?? ownerPids[0];
  return (
    `${describeHolder(holder, ownerPids, nowMillis)}. Not starting: two runs at once share CPUs and ` +
    "corrupt each other's figures. Fix: wait for it to finish" +
    (pid !== undefined ? ` (or stop it: kill -INT ${pid})` : '') +
    ', or run again with --wait DURATION (e.g. --wait 30m) to queue behind it.'
  );
}
