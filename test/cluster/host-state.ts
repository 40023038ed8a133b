// What a real test node leaves on the host, recorded before it is made, and the sweep that
// removes it: the same sweep ends a clean stop(), a run whose process was SIGKILLed (the slot's
// guard runs it), and a later start or test/cluster/down.sh that finds a dead run's state file.
//
// Most of the node lives in namespaces that die with it (its own network namespace: bridge,
// veths, iptables, routes, conntrack; its own mount namespace: every container, volume and
// netns mount, /run, the kernel tunables the kubelet writes). What is left on the host:
// processes, cgroups under the slot's cgroup root, the namespace files and their private mount
// under the temp dir, the host end of the veth, libcni's result cache in /var/lib/cni, the temp
// dir itself. The sweep is synchronous so that an exit handler can run it too.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { kubeletKernelTunables, sysctlPath } from './node-config.ts';

export interface ProcessRecord {
  readonly name: string;
  readonly pid: number;
  /** Start time from /proc/PID/stat, so a recycled pid is never mistaken for ours. */
  readonly start: string;
}

/** Everything a sweep needs, written (atomically) before the thing it describes is made. */
export interface SlotState {
  readonly version: 1;
  readonly slot: number;
  readonly dir: string;
  readonly ownerPid: number;
  readonly createdAt: string;
  readonly containerdSocket: string;
  /** e.g. /conclab-node-0, in every cgroup hierarchy. */
  readonly cgroupRoot: string;
  readonly cniNetwork: string;
  readonly hostLink: string;
  /** `net:[inode]` and `mnt:[inode]` of the node's namespaces, once made: every process inside is ours. */
  readonly namespaceIds?: readonly string[];
  /** The host's values of sysctls a node could touch, as seen at start (a sweep checks them). */
  readonly hostSysctls: Readonly<Record<string, string>>;
  readonly processes: readonly ProcessRecord[];
}

export const cgroupMount = '/sys/fs/cgroup';
export const cniCacheDir = '/var/lib/cni';

/** Sysctls checked at the end, with the value a kubelet or the bridge plugin would have written. */
export const watchedSysctls: Readonly<Record<string, string>> = {
  ...kubeletKernelTunables,
  'net.ipv4.ip_forward': '1',
  'net.bridge.bridge-nf-call-iptables': '1',
};

export function cacheDir(): string {
  return process.env.CONCLAB_CACHE || join(homedir(), '.cache', 'conclab');
}

/** Lock files, state files and logs of running test nodes (outside any temp dir). */
export function runDir(cache = cacheDir()): string {
  return join(cache, 'run');
}

export const slotStatePath = (run: string, slot: number): string => join(run, `slot-${slot}.json`);
export const slotLockPath = (run: string, slot: number): string => join(run, `slot-${slot}.lock`);

export function readSlotState(path: string): SlotState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const state = JSON.parse(text) as SlotState;
  if (state.version !== 1 || typeof state.dir !== 'string' || !Number.isInteger(state.slot)) {
    throw new Error(`${path} is not a conclab node state file (version 1); remove it after checking the host`);
  }
  return state;
}

/** Written to a temp name and renamed, so a reader (or a crash) never sees half a file. */
export function writeSlotState(path: string, state: SlotState): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temp, path);
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined when gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // a zombie holds nothing
    return fields[19];
  } catch {
    return undefined;
  }
}

export function isRunning(record: ProcessRecord): boolean {
  return processStartTime(record.pid) === record.start;
}

export function sleepSync(millis: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, millis);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Mount points at or under `dir` in this process's mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) =>
      point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))),
    )
    .filter((point) => point === dir || point.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Pids of containerd shims started by the containerd listening on `socket`. */
export function shimsOf(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const address = argv.indexOf('-address');
    if (basename(argv[0] ?? '').startsWith('containerd-shim') && address >= 0 && argv[address + 1] === socket) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

/** Pids of processes inside any of the namespaces `ids` (`net:[...]`, `mnt:[...]`). */
export function processesInNamespaces(ids: readonly string[]): number[] {
  const wanted = new Set(ids.filter((id) => id !== ''));
  if (wanted.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    for (const kind of ['net', 'mnt']) {
      try {
        if (wanted.has(readlinkSync(`/proc/${entry}/ns/${kind}`))) {
          pids.push(Number(entry));
          break;
        }
      } catch {
        // Gone, or not ours to read.
      }
    }
  }
  return pids;
}

/** Every cgroup directory at or under `root` (e.g. /conclab-node-0) in every hierarchy, deepest first. */
export function cgroupDirs(root: string): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    found.push(path);
    let entries: string[];
    try {
      entries = readdirSync(path);
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = join(path, entry);
      try {
        if (statSync(child).isDirectory()) walk(child);
      } catch {
        // Removed meanwhile.
      }
    }
  };
  for (const hierarchy of readdirSync(cgroupMount)) {
    const top = join(cgroupMount, hierarchy, root);
    if (existsSync(top)) walk(top);
  }
  return found.sort((a, b) => b.length - a.length);
}

function cgroupPids(dirs: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const dir of dirs) {
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
    } catch {
      // Gone or not a cgroup.
    }
  }
  return [...pids];
}

function run(command: string, args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (error) {
    return { ok: false, output: String((error as { stderr?: string }).stderr ?? error) };
  }
}

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(sysctlPath(name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The host's current values of the watched sysctls (those that exist here). */
export function hostSysctls(): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of Object.keys(watchedSysctls)) {
    const value = readSysctl(name);
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/**
 * Entries of libcni's result cache that belong to network `network`: `NETWORK-ID-IF`, and the
 * `cni-loopback-ID-lo` of the same sandbox ids. Pure over the directory listing.
 */
export function ourCniEntries(network: string, entries: readonly string[]): string[] {
  const ids = new Set<string>();
  const ours: string[] = [];
  for (const entry of entries) {
    const match = new RegExp(`^${network.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-([0-9a-f]{64})-[^-]+$`).exec(entry);
    if (match?.[1]) {
      ids.add(match[1]);
      ours.push(entry);
    }
  }
  for (const entry of entries) {
    const match = /^cni-loopback-([0-9a-f]{64})-lo$/.exec(entry);
    if (match?.[1] && ids.has(match[1])) ours.push(entry);
  }
  return ours;
}

function ourCniResults(network: string): string[] {
  try {
    return ourCniEntries(network, readdirSync(join(cniCacheDir, 'results')));
  } catch {
    return [];
  }
}

export interface SweepReport {
  /** What the sweep had to do, one line each (empty when a clean stop left nothing). */
  readonly actions: string[];
  /** What it could not undo, with the reason; empty on success. */
  readonly problems: string[];
}

/**
 * Removes everything `state` says a node made. Idempotent and order-aware: processes first (so
 * nothing recreates what follows), then mounts, cgroups, the veth, libcni's cache entries, sysctls
 * a kubelet would have changed (only when they hold the kubelet's value), the temp dir (never while
 * a mount remains under it), and last the state file. Synchronous.
 */
export function sweepSlot(state: SlotState, statePath: string | undefined): SweepReport {
  const actions: string[] = [];
  const problems: string[] = [];

  // 1. Our processes (whole groups: each was started as a group leader), then the shims of our
  //    containerd, then whatever still runs in our cgroups (containers outlive a killed shim).
  for (let round = 0; round < 50; round++) {
    const live = state.processes.filter(isRunning);
    const shims = [
      ...new Set([...shimsOf(state.containerdSocket), ...processesInNamespaces(state.namespaceIds ?? [])]),
    ];
    const contained = cgroupPids(cgroupDirs(state.cgroupRoot));
    if (live.length + shims.length + contained.length === 0) break;
    if (round === 0) {
      if (live.length) actions.push(`killed ${live.map((p) => `${p.name}(${p.pid})`).join(' ')}`);
      if (shims.length) actions.push(`killed shims and processes in the node's namespaces: ${shims.join(' ')}`);
      if (contained.length) actions.push(`killed ${contained.length} processes left in ${state.cgroupRoot}`);
    }
    for (const p of live) {
      signal(-p.pid, 'SIGKILL');
      signal(p.pid, 'SIGKILL');
    }
    for (const pid of [...shims, ...contained]) signal(pid, 'SIGKILL');
    sleepSync(100);
    if (round === 49) problems.push('processes still running after 5 s of SIGKILL');
  }

  // 2. Mounts under the temp dir in the host's mount namespace (the namespace files, their
  //    private bind mount). Unmounting the node's mount-namespace file frees every mount in it.
  for (const point of mountsUnder(state.dir)) {
    const plain = run('umount', [point]);
    if (!plain.ok && !run('umount', ['-l', point]).ok) problems.push(`umount ${point}: ${plain.output.trim()}`);
    else actions.push(`unmounted ${point}`);
  }

  // 3. cgroups, children first (a v1 cgroup without tasks can be removed with its files in it).
  //    Right after a kill the kernel may still report a group busy: retry for a while.
  for (const dir of cgroupDirs(state.cgroupRoot)) {
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(dir);
        if (dir.split('/').length === cgroupMount.split('/').length + 2) actions.push(`removed cgroup ${dir}`);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code === 'EBUSY' && attempt < 50) {
          for (const pid of cgroupPids([dir])) signal(pid, 'SIGKILL');
          sleepSync(100);
          continue;
        }
        problems.push(`rmdir ${dir}: ${(error as Error).message}`);
        break;
      }
    }
  }

  // 4. The host end of the veth goes with the namespace; remove it if the namespace lingered.
  //    The kernel destroys an unreferenced namespace asynchronously: give it a moment first.
  const link = `/sys/class/net/${state.hostLink}`;
  for (let i = 0; i < 30 && existsSync(link); i++) sleepSync(100);
  if (existsSync(link)) {
    const removed = run('ip', ['link', 'delete', state.hostLink]);
    if (removed.ok) actions.push(`deleted link ${state.hostLink}`);
    else if (existsSync(link)) problems.push(`ip link delete ${state.hostLink}: ${removed.output.trim()}`);
  }

  // 5. libcni caches each attachment's result on the host: ours by network name, and the
  //    loopback attachment containerd adds to each of our sandboxes (shared network name, our ids).
  for (const entry of ourCniResults(state.cniNetwork)) {
    rmSync(join(cniCacheDir, 'results', entry), { force: true });
    actions.push(`removed ${join(cniCacheDir, 'results', entry)}`);
  }

  // 6. Kernel-wide sysctls: the node writes private copies, so these should be untouched; if one
  //    holds exactly what a kubelet or the bridge plugin writes and differs from the value seen at
  //    start, something reached the host's copy: put it back.
  for (const [name, before] of Object.entries(state.hostSysctls)) {
    const now = readSysctl(name);
    if (now !== undefined && now !== before && now === watchedSysctls[name]) {
      try {
        writeFileSync(sysctlPath(name), before);
        actions.push(`restored ${name} ${now} -> ${before}`);
      } catch (error) {
        problems.push(`restore ${name}: ${(error as Error).message}`);
      }
    }
  }

  // 7. The temp dir, never while something is still mounted under it.
  if (existsSync(state.dir)) {
    const left = mountsUnder(state.dir);
    if (left.length > 0) problems.push(`left ${state.dir} in place: still mounted ${left.join(', ')}`);
    else rmSync(state.dir, { recursive: true, force: true });
  }

  if (problems.length === 0 && statePath !== undefined) rmSync(statePath, { force: true });
  return { actions, problems };
}

/**
 * Removes /var/lib/cni (and results/) when empty and a conclab node created it. A node still
 * running is not hurt: libcni creates the directories again when it next writes.
 */
export function removeEmptyCniCache(run: string): void {
  const marker = join(run, 'created-var-lib-cni');
  if (!existsSync(marker)) return;
  for (const dir of [join(cniCacheDir, 'results'), cniCacheDir]) {
    try {
      if (readdirSync(dir).length === 0) rmdirSync(dir);
    } catch {
      // Absent or not empty.
    }
  }
  if (!existsSync(cniCacheDir)) rmSync(marker, { force: true });
}
