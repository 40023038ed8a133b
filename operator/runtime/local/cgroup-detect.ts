// Which cgroup hierarchy can carry the experiment's limits on this machine: v2 (unified, with
// the cpu and memory controllers), v1 (separate cpu, cpuacct and memory hierarchies, possibly
// co-mounted as "cpu,cpuacct"), or none. The decision is a pure function of the text of
// /proc/self/mountinfo and /proc/self/cgroup (plus the v2 root's cgroup.controllers), so it can
// be table-tested; readCgroupLayout is the thin shell that reads those files.
//
// Groups are created directly under each hierarchy's mount point (what a container engine with
// the cgroupfs driver does), not under the caller's own group: on v1 the caller's group is often
// a session group owned by someone else (a terminal multiplexer, a CI runner) that must stay
// removable. A delegated subtree can be chosen with the runtime's `cgroupParent` option.
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** One mounted cgroup hierarchy, as seen in /proc/self/mountinfo. */
export interface CgroupMount {
  /** 'cgroup2' for the unified hierarchy, 'cgroup' for v1. */
  fsType: 'cgroup' | 'cgroup2';
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** Path inside the hierarchy that the mount shows at its mount point (usually "/"). */
  root: string;
  /** v1 controllers attached to the hierarchy (cpu, cpuacct, memory, ...); empty for v2. */
  controllers: string[];
  readOnly: boolean;
}

/** A v1 hierarchy that conclab uses. */
export interface V1Hierarchy {
  mountPoint: string;
  /** Directory of this process's own group in the hierarchy (for information). */
  selfDir: string;
}

export type CgroupLayout =
  | { version: 'v2'; mountPoint: string; selfDir: string; controllers: string[] }
  | { version: 'v1'; cpu: V1Hierarchy; cpuacct: V1Hierarchy; memory: V1Hierarchy }
  | { version: 'none'; reason: string };

/** The v1 controllers conclab needs: quota (cpu), CPU time (cpuacct) and memory. */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory'] as const;

// mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses the cgroup mounts out of /proc/self/mountinfo (other mounts are ignored). */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 4) continue;
    const fsType = fields[dash + 1];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const mountOptions = (fields[5] ?? '').split(',');
    const superOptions = (fields[dash + 3] ?? '').split(',');
    mounts.push({
      fsType,
      mountPoint: unescapeMountPath(fields[4] ?? ''),
      root: unescapeMountPath(fields[3] ?? '/'),
      controllers: fsType === 'cgroup' ? superOptions.filter((o) => o !== 'rw' && o !== 'ro' && !o.includes('=')) : [],
      readOnly: mountOptions.includes('ro') || superOptions.includes('ro'),
    });
  }
  return mounts;
}

/** Parses /proc/self/cgroup into controller -> path; the v2 entry is under the key ''. */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const controllers = m[2] ?? '';
    const groupPath = m[3] ?? '/';
    if (controllers === '') paths.set('', groupPath);
    for (const c of controllers.split(',')) if (c !== '') paths.set(c, groupPath);
  }
  return paths;
}

// The directory of a group path as seen through a mount whose root may be a sub-tree.
function dirThroughMount(mount: CgroupMount, groupPath: string | undefined): string {
  const p = groupPath ?? '/';
  const rel = mount.root === '/' ? p : p.startsWith(mount.root) ? p.slice(mount.root.length) : '/';
  return path.join(mount.mountPoint, rel).replace(/(.)\/+$/, '$1');
}

export interface DetectInput {
  mountinfo: string;
  procCgroup: string;
  /** Content of cgroup.controllers at the v2 mount point, when there is a v2 mount. */
  v2Controllers?: string;
}

/**
 * Chooses the hierarchy. v2 wins when its root offers both cpu and memory (a pure v2 host);
 * otherwise v1 when cpu, cpuacct and memory are all mounted (a v1 or hybrid host whose unified
 * mount has no controllers); otherwise none, with the reason.
 */
export function detectCgroupLayout(input: DetectInput): CgroupLayout {
  const mounts = parseCgroupMounts(input.mountinfo);
  const self = parseProcCgroup(input.procCgroup);
  const v2 = mounts.find((m) => m.fsType === 'cgroup2');
  const v2Controllers = (input.v2Controllers ?? '').split(/\s+/).filter(Boolean);
  if (v2 && v2Controllers.includes('cpu') && v2Controllers.includes('memory')) {
    if (v2.readOnly) {
      return { version: 'none', reason: `the cgroup v2 hierarchy at ${v2.mountPoint} is mounted read-only` };
    }
    return {
      version: 'v2',
      mountPoint: v2.mountPoint,
      selfDir: dirThroughMount(v2, self.get('')),
      controllers: v2Controllers,
    };
  }
  const found: Partial<Record<(typeof V1_CONTROLLERS)[number], V1Hierarchy>> = {};
  const missing: string[] = [];
  const readOnly: string[] = [];
  for (const c of V1_CONTROLLERS) {
    const m = mounts.find((x) => x.fsType === 'cgroup' && x.controllers.includes(c));
    if (!m) missing.push(c);
    else if (m.readOnly) readOnly.push(`${c} (${m.mountPoint})`);
    else found[c] = { mountPoint: m.mountPoint, selfDir: dirThroughMount(m, self.get(c)) };
  }
  if (found.cpu && found.cpuacct && found.memory) {
    return { version: 'v1', cpu: found.cpu, cpuacct: found.cpuacct, memory: found.memory };
  }
  const problems: string[] = [];
  if (v2) {
    problems.push(
      `the cgroup v2 hierarchy at ${v2.mountPoint} offers controllers [${v2Controllers.join(' ')}] but needs cpu and memory`,
    );
  } else {
    problems.push('no cgroup v2 hierarchy is mounted');
  }
  if (missing.length > 0) problems.push(`cgroup v1 controllers not mounted: ${missing.join(', ')}`);
  if (readOnly.length > 0) problems.push(`cgroup v1 hierarchies mounted read-only: ${readOnly.join(', ')}`);
  return { version: 'none', reason: problems.join('; ') };
}

export interface ReadLayoutOptions {
  /** Defaults to /proc/self/mountinfo; tests point it at a FAKE file. */
  mountinfoPath?: string;
  /** Defaults to /proc/self/cgroup. */
  procCgroupPath?: string;
}

/** Reads the files and detects the layout; never throws (an unreadable file means "none"). */
export function readCgroupLayout(options: ReadLayoutOptions = {}): CgroupLayout {
  let mountinfo: string;
  let procCgroup: string;
  try {
    mountinfo = readFileSync(options.mountinfoPath ?? '/proc/self/mountinfo', 'utf8');
    procCgroup = readFileSync(options.procCgroupPath ?? '/proc/self/cgroup', 'utf8');
  } catch (err) {
    return { version: 'none', reason: `cannot read the cgroup mount table: ${(err as Error).message}` };
  }
  const v2 = parseCgroupMounts(mountinfo).find((m) => m.fsType === 'cgroup2');
  let v2Controllers: string | undefined;
  if (v2) {
    try {
      v2Controllers = readFileSync(path.join(v2.mountPoint, 'cgroup.controllers'), 'utf8');
    } catch {
      v2Controllers = '';
    }
  }
  return detectCgroupLayout({ mountinfo, procCgroup, v2Controllers });
}
