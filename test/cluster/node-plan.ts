// Names and addresses of one test node "slot". A machine can run a few real test clusters at
// once (the shared one, a lifecycle test's own, one a person started with up.sh): each gets a
// slot number, and everything that is visible outside the node's own network and mount
// namespaces is derived from it here, so two slots never collide.
//
// Inside the node's network namespace the names are the same for every slot (the bridge is
// always `conclab0`, the API server always listens on port 6443): namespaces keep them apart.
// What the host sees differs per slot: the veth end, the routes to the pod and Service ranges,
// the cgroup root, the CNI network name (libcni caches results by network name on the host).

/** Slots 0..maxSlots-1; each takes one /24 of pods, one /24 of Services and one /30 link. */
export const maxSlots = 8;

export interface NodePlan {
  readonly slot: number;
  /** Node name, cgroup root, CNI network name: `conclab-node-N`. */
  readonly name: string;
  /** Pod range, e.g. 10.213.0.0/24 (host-local IPAM hands out .2 and up). */
  readonly podCidr: string;
  /** The node's own address on the bridge (first of podCidr): the API server, kubelet and gateway. */
  readonly bridgeAddress: string;
  /** Bridge inside the node's network namespace. */
  readonly bridge: string;
  /** Service range, e.g. 10.214.0.0/24; the first address is the `kubernetes` Service. */
  readonly serviceCidr: string;
  readonly kubernetesServiceAddress: string;
  /** veth end in the host's network namespace (unique per slot, at most 15 characters). */
  readonly hostLink: string;
  /** veth end inside the node's network namespace. */
  readonly nodeLink: string;
  /** Host side of the /30 between host and node, e.g. 169.254.213.1. */
  readonly hostLinkAddress: string;
  /** Node side of that /30, e.g. 169.254.213.2: the host's gateway to pods and Services. */
  readonly nodeLinkAddress: string;
  readonly linkPrefixLength: 30;
  /** cgroup (in every hierarchy) the kubelet puts `kubepods` under: `/conclab-node-N`. */
  readonly cgroupRoot: string;
  /** CNI network name; libcni caches results as /var/lib/cni/results/<name>-<container>-<if>. */
  readonly cniNetwork: string;
  /** Port of kube-apiserver on bridgeAddress. */
  readonly apiServerPort: number;
  /** Port of the kubelet's server on bridgeAddress. */
  readonly kubeletPort: number;
}

/** The plan of slot `slot` (0 <= slot < maxSlots). Pure. */
export function nodePlan(slot: number): NodePlan {
  if (!Number.isInteger(slot) || slot < 0 || slot >= maxSlots) {
    throw new Error(`node slot ${slot} is out of range: use an integer from 0 to ${maxSlots - 1}`);
  }
  const name = `conclab-node-${slot}`;
  return {
    slot,
    name,
    podCidr: `10.213.${slot}.0/24`,
    bridgeAddress: `10.213.${slot}.1`,
    bridge: 'conclab0',
    serviceCidr: `10.214.${slot}.0/24`,
    kubernetesServiceAddress: `10.214.${slot}.1`,
    hostLink: `conclab-n${slot}`,
    nodeLink: 'uplink',
    hostLinkAddress: `169.254.213.${4 * slot + 1}`,
    nodeLinkAddress: `169.254.213.${4 * slot + 2}`,
    linkPrefixLength: 30,
    cgroupRoot: `/${name}`,
    cniNetwork: name,
    apiServerPort: 6443,
    kubeletPort: 10250,
  };
}

/** The IPv4 range `cidr` as [first, last] 32-bit numbers; throws on a malformed range. */
export function ipv4Range(cidr: string): [number, number] {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr);
  if (!match) throw new Error(`"${cidr}" is not an IPv4 address or range`);
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) throw new Error(`"${cidr}" has an octet above 255`);
  const bits = match[5] === undefined ? 32 : Number(match[5]);
  if (bits > 32) throw new Error(`"${cidr}" has a prefix longer than 32`);
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const first = Math.floor(address / size) * size;
  return [first, first + size - 1];
}

/** Whether two IPv4 ranges share an address. `default` counts as 0.0.0.0/0. */
export function rangesOverlap(a: string, b: string): boolean {
  const [a0, a1] = ipv4Range(a === 'default' ? '0.0.0.0/0' : a);
  const [b0, b1] = ipv4Range(b === 'default' ? '0.0.0.0/0' : b);
  return a0 <= b1 && b0 <= a1;
}

/**
 * Host routes (as `ip -j route` prints their `dst`) that would capture traffic meant for the
 * slot's pod or Service range, other than the default route and the slot's own routes. A slot
 * whose ranges are already routed elsewhere on this machine cannot be used.
 */
export function conflictingRoutes(plan: NodePlan, routes: readonly { dst: string; dev?: string }[]): string[] {
  return routes
    .filter((route) => route.dst !== 'default' && route.dev !== plan.hostLink)
    .filter((route) => {
      try {
        return [plan.podCidr, plan.serviceCidr, `${plan.hostLinkAddress}/30`].some((range) =>
          rangesOverlap(route.dst, range),
        );
      } catch {
        return false; // not IPv4 (e.g. a multicast or IPv6 form): cannot overlap ours
      }
    })
    .map((route) => `${route.dst}${route.dev ? ` dev ${route.dev}` : ''}`);
}
