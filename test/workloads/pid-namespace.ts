// Running a workload as PID 1 of its own pid namespace, as a container's entrypoint runs: the
// kernel then drops every signal whose action is the default when it is sent from inside the
// namespace (kill(own pid) included), and delivers only the ones with a handler, or forced
// faults. `unshare --pid --fork --mount-proc` (util-linux, as root) forks the command as PID 1
// with its own /proc, waits for it, and ends as it ended: its exit code, or the same signal.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc'] as const;

/** Why these tests cannot run here, with the fix; undefined when they can. */
export function pid1Problem(): string | undefined {
  if (process.getuid?.() !== 0) return 'a new pid namespace needs root: run the tests as root';
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'pipe', timeout: 10_000 });
  } catch (error) {
    return `unshare --pid --fork --mount-proc true failed (${(error as Error).message.split('\n')[0]}): install util-linux`;
  }
  return undefined;
}

/** The command as PID 1 of a new pid namespace. */
export function asPid1(argv: readonly string[]): string[] {
  return [...UNSHARE, ...argv];
}

/** The host pid of the namespace's PID 1: the one child of unshare (pid `unsharePid`). */
export function pid1HostPid(unsharePid: number): number {
  const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/);
  if (children.length !== 1 || children[0] === '') {
    throw new Error(`unshare (pid ${unsharePid}) has children [${children.join(', ')}], expected exactly one`);
  }
  return Number(children[0]);
}

/**
 * Signals that end a natively aborting process: SIGABRT, or, as PID 1 where SIGABRT raised from
 * inside is dropped, the fault glibc's abort() forces next (x86-64: `hlt` in user mode, SIGSEGV;
 * other architectures' abort instructions give SIGILL or SIGTRAP).
 */
export const NATIVE_ABORT_SIGNALS: readonly NodeJS.Signals[] = ['SIGABRT', 'SIGSEGV', 'SIGILL', 'SIGTRAP'];
