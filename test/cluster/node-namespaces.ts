// The namespaces a real test node lives in, so that almost nothing of it touches the host:
//
// - a network namespace with only loopback, the pod bridge and one veth to the host. The node's
//   processes (etcd, API server, kubelet, containerd, kube-proxy, ...) run in it, so iptables
//   rules, KUBE-* chains, conntrack entries, routes, ip_forward and the bridge all vanish with it.
//   Pods hang off the bridge with a route for the Service range and no default route; the node
//   namespace itself has no route off the machine either. The host reaches pods, Services and the
//   API server through the veth (a /30 of link-local addresses, routed per slot).
// - a mount namespace (private propagation) for the same processes: every container rootfs,
//   volume, shm and netns mount is made there and dissolves with it; /run is a private tmpfs
//   (containerd's shim sockets, iptables' lock); and the kernel tunables the kubelet insists on
//   setting (kernel.panic=10, kernel.panic_on_oops=1, vm.overcommit_memory=1, ...) are private
//   files bind-mounted over /proc/sys, so the host's values never change. On a shared test VM a
//   kubelet must not make the next kernel oops panic the machine.
//
// Both namespaces are pinned by bind mounts on files under DIR/ns (itself a private bind mount,
// as `unshare --mount=FILE` requires on hosts whose / is a shared mount).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolationRules, kubeletKernelTunables, sysctlPath } from './node-config.ts';
import type { NodePlan } from './node-plan.ts';

export interface NodeNamespaces {
  readonly netns: string;
  readonly mntns: string;
  /** `net:[inode]` / `mnt:[inode]`, as /proc/PID/ns/* links read, to find every process inside. */
  readonly netnsId: string;
  readonly mntnsId: string;
  /** The node's private copies of the kernel tunables (what the kubelet wrote ends up here). */
  readonly sysctlDir: string;
}

function sh(command: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(command, [...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr || (error as Error).message}`);
  }
}

/** argv prefix that runs a command inside the node's namespaces. */
export function inNode(ns: Pick<NodeNamespaces, 'netns' | 'mntns'>, command: readonly string[]): string[] {
  return ['nsenter', `--net=${ns.netns}`, `--mount=${ns.mntns}`, '--', ...command];
}

/** Creates both namespaces and the node's network. Throws with the failing command on error. */
export function createNodeNamespaces(plan: NodePlan, dir: string): NodeNamespaces {
  const nsDir = join(dir, 'ns');
  mkdirSync(nsDir, { recursive: true });
  sh('mount', ['--bind', nsDir, nsDir]);
  sh('mount', ['--make-private', nsDir]);
  const netns = join(nsDir, 'net');
  const mntns = join(nsDir, 'mnt');
  writeFileSync(netns, '');
  writeFileSync(mntns, '');
  sh('unshare', [`--net=${netns}`, 'true']);

  // The kubelet's kernel tunables: private files that start with the host's values.
  const sysctlDir = join(dir, 'sysctl');
  mkdirSync(sysctlDir, { recursive: true });
  const binds: string[] = [];
  for (const name of Object.keys(kubeletKernelTunables)) {
    let value: string;
    try {
      value = readFileSync(sysctlPath(name), 'utf8');
    } catch {
      continue; // not on this kernel: nothing to protect
    }
    writeFileSync(join(sysctlDir, name), value);
    binds.push(`mount --bind ${join(sysctlDir, name)} ${sysctlPath(name)}`);
  }
  const setup = ['mount -t tmpfs -o mode=0755,size=64m conclab-node-run /run', ...binds].join(' && ');
  sh('unshare', [`--mount=${mntns}`, '--propagation', 'private', 'sh', '-ec', setup]);

  const ns = { netns, mntns };
  const node = (...command: string[]): string => {
    const [bin, ...rest] = inNode(ns, command);
    return sh(bin as string, rest);
  };
  node('ip', 'link', 'set', 'lo', 'up');
  node('ip', 'link', 'add', plan.bridge, 'type', 'bridge');
  node('ip', 'addr', 'add', `${plan.bridgeAddress}/24`, 'dev', plan.bridge);
  node('ip', 'link', 'set', plan.bridge, 'up');
  // The peer is created straight into this process's network namespace (the host's).
  node('ip', 'link', 'add', plan.nodeLink, 'type', 'veth', 'peer', 'name', plan.hostLink, 'netns', String(process.pid));
  node('ip', 'addr', 'add', `${plan.nodeLinkAddress}/${plan.linkPrefixLength}`, 'dev', plan.nodeLink);
  node('ip', 'link', 'set', plan.nodeLink, 'up');
  // Routing between the veth and the bridge (and Service DNAT back onto the bridge) is forwarding;
  // this is the node namespace's own ip_forward, not the host's.
  node('sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward');
  const [restore, ...restoreArgs] = inNode(ns, ['iptables-restore', '--noflush']);
  sh(restore as string, restoreArgs, isolationRules(plan));

  sh('ip', ['addr', 'add', `${plan.hostLinkAddress}/${plan.linkPrefixLength}`, 'dev', plan.hostLink]);
  sh('ip', ['link', 'set', plan.hostLink, 'up']);
  for (const range of [plan.podCidr, plan.serviceCidr]) {
    sh('ip', ['route', 'add', range, 'via', plan.nodeLinkAddress, 'dev', plan.hostLink, 'src', plan.hostLinkAddress]);
  }

  // Read the namespace identities through a process inside (the files themselves are nsfs mounts).
  const ids = node('sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/mnt').trim().split('\n');
  return { netns, mntns, netnsId: ids[0] ?? '', mntnsId: ids[1] ?? '', sysctlDir };
}
