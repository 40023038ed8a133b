// The configuration files and flags of a real test node, as pure functions of the slot plan and
// its directories, so each decision is table-tested (node-config.test.ts) and the start code in
// real-cluster.ts only writes files and spawns processes. Why each setting is what it is comes
// from what was tried on these machines (see /work/shared/notes/real-node.md in the project's
// notes, and test/cluster/README.md).
import { stringify } from 'yaml';
import type { NodePlan } from './node-plan.ts';

/** Where a node's files go: `dir` is the per-run temp dir, `containerdRoot` persists (images). */
export interface NodeDirs {
  readonly dir: string;
  /** containerd's root (content store, snapshots, metadata): kept between runs so images stay imported. */
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly cniConfDir: string;
  readonly cniIpamDir: string;
  readonly kubeletRoot: string;
  readonly podLogs: string;
  readonly pki: string;
  readonly logs: string;
}

export interface TomlSetting {
  /** Table header without brackets, e.g. `plugins."io.containerd.grpc.v1.cri".cni`; '' for top level. */
  readonly section: string;
  readonly key: string;
  /** A TOML literal: use toml() for strings. */
  readonly value: string;
}

/** A TOML basic string (JSON's escaping is valid TOML for these paths and names). */
export const toml = (value: string | boolean | number | readonly string[]): string =>
  Array.isArray(value) ? `[${value.map((v) => JSON.stringify(v)).join(', ')}]` : JSON.stringify(value);

/**
 * Sets existing keys in a TOML document (as `containerd config default` prints it), line by line,
 * keeping everything else as it is. A missing section or key throws: a containerd whose default
 * config has changed shape must fail loudly here, not run with half of the settings.
 */
export function setTomlValues(document: string, settings: readonly TomlSetting[]): string {
  const lines = document.split('\n');
  for (const { section, key, value } of settings) {
    let start = 0;
    if (section !== '') {
      start = lines.findIndex((line) => line.trim() === `[${section}]`) + 1;
      if (start === 0) throw new Error(`containerd default config has no [${section}] table`);
    }
    let found = false;
    for (let i = start; i < lines.length; i++) {
      const line = lines[i] ?? '';
      if (line.trim().startsWith('[')) break;
      const match = /^(\s*)(\S+)\s*=/.exec(line);
      if (match && match[2] === key) {
        lines[i] = `${match[1]}${key} = ${value}`;
        found = true;
        break;
      }
    }
    if (!found) throw new Error(`containerd default config has no "${key}" in [${section || 'top level'}]`);
  }
  return lines.join('\n');
}

const cri = 'plugins."io.containerd.grpc.v1.cri"';

/** The settings applied to `containerd config default` for a test node. */
export function containerdSettings(dirs: NodeDirs, sandboxImage: string, cniBinDir: string): TomlSetting[] {
  const runcRoot = `${dirs.containerdState}/runc`;
  return [
    { section: '', key: 'root', value: toml(dirs.containerdRoot) },
    { section: '', key: 'state', value: toml(dirs.containerdState) },
    // Snapshotters that cannot work here only add start-up noise.
    {
      section: '',
      key: 'disabled_plugins',
      value: toml([
        'io.containerd.snapshotter.v1.aufs',
        'io.containerd.snapshotter.v1.btrfs',
        'io.containerd.snapshotter.v1.devmapper',
        'io.containerd.snapshotter.v1.zfs',
      ]),
    },
    { section: 'grpc', key: 'address', value: toml(dirs.containerdSocket) },
    { section: cri, key: 'sandbox_image', value: toml(sandboxImage) },
    // These VMs lack CAP_SYS_RESOURCE in the bounding set: runc cannot lower a process's OOM
    // score, and without this every sandbox fails with "can't get final child's PID from pipe".
    { section: cri, key: 'restrict_oom_score_adj', value: 'true' },
    // Pod network namespaces under our state dir, not /var/run/netns.
    { section: cri, key: 'netns_mounts_under_state_dir', value: 'true' },
    { section: `${cri}.cni`, key: 'bin_dir', value: toml(cniBinDir) },
    { section: `${cri}.cni`, key: 'conf_dir', value: toml(dirs.cniConfDir) },
    // runc's state under ours (its default is /run/containerd/runc). The runtime's own
    // `runtime_root` key is for the v1 runtime only: containerd refuses the CRI plugin with it.
    { section: `${cri}.containerd.runtimes.runc.options`, key: 'Root', value: toml(runcRoot) },
    { section: `${cri}.containerd.runtimes.runc.options`, key: 'SystemdCgroup', value: 'false' },
    { section: 'plugins."io.containerd.internal.v1.opt"', key: 'path', value: toml(`${dirs.containerdRoot}/opt`) },
    {
      section: 'plugins."io.containerd.runtime.v1.linux"',
      key: 'runtime_root',
      value: toml(`${dirs.containerdState}/runtime-v1`),
    },
    // Default 0s waits forever on a metadata DB another containerd still holds: fail instead.
    { section: 'timeouts', key: '"io.containerd.timeout.bolt.open"', value: toml('10s') },
  ];
}

/** The CNI network: a private bridge, host-local IPAM in our dir, a route for Services only (no default route). */
export function cniConflist(plan: NodePlan, dirs: NodeDirs): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: plan.cniNetwork,
      plugins: [
        {
          type: 'bridge',
          bridge: plan.bridge,
          isGateway: true,
          isDefaultGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: dirs.cniIpamDir,
            ranges: [[{ subnet: plan.podCidr, gateway: plan.bridgeAddress }]],
            routes: [{ dst: plan.serviceCidr }],
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

/** Files of the kubelet's serving certificate and the client CA it trusts. */
export interface KubeletTls {
  readonly clientCaFile: string;
  readonly tlsCertFile: string;
  readonly tlsPrivateKeyFile: string;
}

/** KubeletConfiguration for a cgroup v1 node with containerd 1.6 and cgroupfs. */
export function kubeletConfiguration(plan: NodePlan, dirs: NodeDirs, tls: KubeletTls): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // containerd 1.6 has no RuntimeConfig call, so the kubelet uses this driver as configured.
    cgroupDriver: 'cgroupfs',
    // kubepods under our own root in every hierarchy, so slots never share a cgroup.
    cgroupRoot: plan.cgroupRoot,
    // These VMs are cgroup v1; kubelet 1.34 refuses v1 unless told otherwise.
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${dirs.containerdSocket}`,
    address: plan.bridgeAddress,
    port: plan.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: tls.clientCaFile },
    },
    authorization: { mode: 'Webhook' },
    tlsCertFile: tls.tlsCertFile,
    tlsPrivateKeyFile: tls.tlsPrivateKeyFile,
    podLogsDir: dirs.podLogs,
    // Only memory pressure evicts: a busy shared disk must not evict test pods.
    evictionHard: { 'memory.available': '100Mi' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // No cluster DNS here, and pods must not inherit the host's resolvers.
    resolvConf: '',
    clusterDomain: 'cluster.local',
    // The node's own copy of the kernel tunables is a file in our dir (see the node mount
    // namespace in real-cluster.ts); the host's sysctls are never changed.
    protectKernelDefaults: false,
    serializeImagePulls: false,
    shutdownGracePeriod: '0s',
  });
}

/**
 * The sysctls the kubelet sets at start (pkg/kubelet/cm setupKernelTunables), and the values it
 * wants. They are kernel-wide, not per namespace: the node sees private copies of these files.
 */
export const kubeletKernelTunables: Readonly<Record<string, string>> = {
  'vm.overcommit_memory': '1',
  'vm.panic_on_oom': '0',
  'kernel.panic': '10',
  'kernel.panic_on_oops': '1',
  'kernel.keys.root_maxkeys': '1000000',
  'kernel.keys.root_maxbytes': '25000000',
};

/** /proc/sys path of a dotted sysctl name. */
export const sysctlPath = (name: string): string => `/proc/sys/${name.replaceAll('.', '/')}`;

/**
 * iptables-restore input (with --noflush) for the node's network namespace. FORWARD: pods talk
 * to pods, the host may open connections to pods and Services, pods may only answer the host;
 * everything else crossing the bridge is dropped. NAT: the host's link address is masqueraded
 * to the bridge address, because pods have no route back to it (they have no default route).
 */
export function isolationRules(plan: NodePlan): string {
  const chain = 'CONCLAB-ISOLATE';
  return [
    '*filter',
    `:${chain} - [0:0]`,
    `-I FORWARD 1 -j ${chain}`,
    `-A ${chain} -i ${plan.bridge} -o ${plan.bridge} -j RETURN`,
    `-A ${chain} -i ${plan.nodeLink} -o ${plan.bridge} -j RETURN`,
    `-A ${chain} -i ${plan.bridge} -o ${plan.nodeLink} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
    `-A ${chain} -j DROP`,
    'COMMIT',
    '*nat',
    ':CONCLAB-HOST-SNAT - [0:0]',
    '-A POSTROUTING -j CONCLAB-HOST-SNAT',
    `-A CONCLAB-HOST-SNAT -s ${plan.hostLinkAddress}/32 -o ${plan.bridge} -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n');
}

/** kube-proxy flags: iptables mode, our ranges, and hands off the (kernel-wide) conntrack sysctls. */
export function kubeProxyArgs(plan: NodePlan, kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${plan.name}`,
    '--proxy-mode=iptables',
    `--cluster-cidr=${plan.podCidr}`,
    `--nodeport-addresses=${plan.podCidr}`,
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--metrics-bind-address=127.0.0.1:10249',
    '--healthz-bind-address=127.0.0.1:10256',
  ];
}
