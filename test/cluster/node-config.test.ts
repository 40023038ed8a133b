// Table tests of the real node's pure decisions: slot plans, route conflicts, configuration
// renderers, Dockerfile parsing, libcni cache ownership. One test applies our settings to the
// real `containerd config default` of this machine, so a containerd whose default config changed
// shape fails here first.
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { parse } from 'yaml';
import { ourCniEntries } from './host-state.ts';
import { copySources, fromImages, qualifiedReference } from './images.ts';
import {
  cniConflist,
  containerdSettings,
  isolationRules,
  kubeletConfiguration,
  kubeProxyArgs,
  type NodeDirs,
  setTomlValues,
  toml,
} from './node-config.ts';
import { conflictingRoutes, ipv4Range, maxSlots, nodePlan, rangesOverlap } from './node-plan.ts';
import { chartImageValues } from './operator-install.ts';
import { subjectAltName } from './pki.ts';

const dirs: NodeDirs = {
  dir: '/tmp/n',
  containerdRoot: '/cache/containerd/slot-0',
  containerdState: '/tmp/n/containerd/state',
  containerdSocket: '/tmp/n/containerd/containerd.sock',
  cniConfDir: '/tmp/n/cni/net.d',
  cniIpamDir: '/tmp/n/cni/ipam',
  kubeletRoot: '/tmp/n/kubelet',
  podLogs: '/tmp/n/pod-logs',
  pki: '/tmp/n/pki',
  logs: '/tmp/n/logs',
};

test('slot plans give every slot its own pod range, Service range, link and host names', (t) => {
  const plans = Array.from({ length: maxSlots }, (_, slot) => nodePlan(slot));
  for (const key of ['podCidr', 'serviceCidr', 'hostLinkAddress', 'hostLink', 'cgroupRoot', 'cniNetwork'] as const) {
    t.is(new Set(plans.map((plan) => plan[key])).size, maxSlots, key);
  }
  for (const a of plans) {
    for (const b of plans) {
      if (a.slot === b.slot) continue;
      t.false(rangesOverlap(a.podCidr, b.podCidr));
      t.false(rangesOverlap(`${a.hostLinkAddress}/30`, `${b.hostLinkAddress}/30`));
    }
    t.true(a.hostLink.length <= 15, a.hostLink); // IFNAMSIZ
    t.true(rangesOverlap(`${a.bridgeAddress}/32`, a.podCidr));
    t.true(rangesOverlap(`${a.kubernetesServiceAddress}/32`, a.serviceCidr));
    t.true(rangesOverlap(`${a.nodeLinkAddress}/32`, `${a.hostLinkAddress}/30`));
  }
  t.throws(() => nodePlan(maxSlots), { message: /out of range/ });
  t.throws(() => nodePlan(-1), { message: /out of range/ });
});

test('IPv4 ranges: parsing, overlap, and malformed input named in the error', (t) => {
  t.deepEqual(ipv4Range('10.213.0.0/24'), [0x0ad50000, 0x0ad500ff]);
  t.deepEqual(ipv4Range('10.213.0.7'), [0x0ad50007, 0x0ad50007]);
  t.true(rangesOverlap('10.0.0.0/8', '10.213.5.0/24'));
  t.false(rangesOverlap('10.212.0.0/16', '10.213.0.0/24'));
  t.true(rangesOverlap('default', '10.213.0.0/24'));
  t.throws(() => ipv4Range('10.213.0.0/33'), { message: /"10\.213\.0\.0\/33"/ });
  t.throws(() => ipv4Range('fe80::/64'), { message: /not an IPv4/ });
});

test('a slot whose ranges the host already routes elsewhere is reported; the default route and our own link are not', (t) => {
  const plan = nodePlan(1);
  const routes = [
    { dst: 'default', dev: 'eth0' },
    { dst: '192.0.2.0/24', dev: 'eth0' },
    { dst: '10.213.1.0/24', dev: plan.hostLink },
    { dst: '10.214.0.0/16', dev: 'vpn0' },
    { dst: 'fe80::/64', dev: 'eth0' },
  ];
  t.deepEqual(conflictingRoutes(plan, routes), ['10.214.0.0/16 dev vpn0']);
  t.deepEqual(conflictingRoutes(nodePlan(0), routes.slice(0, 2)), []);
});

test('setTomlValues replaces keys in their own table only and fails naming a missing table or key', (t) => {
  const doc = ['root = "/a"', '[x]', '  k = 1', '[x.y]', '  k = 2', ''].join('\n');
  const out = setTomlValues(doc, [
    { section: '', key: 'root', value: toml('/b') },
    { section: 'x.y', key: 'k', value: '3' },
  ]);
  t.is(out, ['root = "/b"', '[x]', '  k = 1', '[x.y]', '  k = 3', ''].join('\n'));
  t.throws(() => setTomlValues(doc, [{ section: 'z', key: 'k', value: '1' }]), { message: /no \[z\] table/ });
  t.throws(() => setTomlValues(doc, [{ section: 'x', key: 'missing', value: '1' }]), {
    message: /no "missing" in \[x\]/,
  });
  t.is(toml(['a', 'b']), '["a", "b"]');
});

test("every containerd setting applies to this machine's `containerd config default`", (t) => {
  const defaults = execFileSync('containerd', ['config', 'default'], { encoding: 'utf8' });
  const config = setTomlValues(defaults, containerdSettings(dirs, 'docker.io/conclab/test-pause:1', '/usr/lib/cni'));
  t.regex(config, /^\s*restrict_oom_score_adj = true$/m);
  t.regex(config, /^\s*netns_mounts_under_state_dir = true$/m);
  t.regex(config, /^\s*sandbox_image = "docker\.io\/conclab\/test-pause:1"$/m);
  t.regex(config, /^\s*Root = "\/tmp\/n\/containerd\/state\/runc"$/m);
  t.regex(config, /^\s*SystemdCgroup = false$/m);
  t.regex(config, /^root = "\/cache\/containerd\/slot-0"$/m);
  t.regex(config, /^state = "\/tmp\/n\/containerd\/state"$/m);
  t.regex(config, /^\s*address = "\/tmp\/n\/containerd\/containerd\.sock"$/m);
  // Nothing of ours may point at the host's default locations any more.
  t.notRegex(config, /^\s*(root|state|address|path|conf_dir) = "\/(var\/lib|run|opt|etc)\/(containerd|cni)/m);
});

test('the CNI network: private bridge, host-local IPAM in our dir, a Service route and no default gateway', (t) => {
  const plan = nodePlan(2);
  const conf = JSON.parse(cniConflist(plan, dirs)) as {
    name: string;
    plugins: {
      type: string;
      bridge: string;
      isDefaultGateway: boolean;
      ipMasq: boolean;
      ipam: { dataDir: string; routes: { dst: string }[]; ranges: { subnet: string }[][] };
    }[];
  };
  t.is(conf.name, 'conclab-node-2');
  const [bridge] = conf.plugins;
  t.is(bridge?.type, 'bridge');
  t.is(bridge?.isDefaultGateway, false);
  t.is(bridge?.ipMasq, false);
  t.is(bridge?.ipam.dataDir, '/tmp/n/cni/ipam');
  t.deepEqual(bridge?.ipam.routes, [{ dst: '10.214.2.0/24' }]);
  t.is(bridge?.ipam.ranges[0]?.[0]?.subnet, '10.213.2.0/24');
});

test('the kubelet configuration: cgroupfs under our cgroup root, cgroup v1 allowed, webhook auth, no host DNS', (t) => {
  const config = parse(
    kubeletConfiguration(nodePlan(0), dirs, { clientCaFile: 'ca', tlsCertFile: 'crt', tlsPrivateKeyFile: 'key' }),
  ) as Record<string, unknown>;
  t.like(config, {
    kind: 'KubeletConfiguration',
    cgroupDriver: 'cgroupfs',
    cgroupRoot: '/conclab-node-0',
    failCgroupV1: false,
    readOnlyPort: 0,
    containerRuntimeEndpoint: 'unix:///tmp/n/containerd/containerd.sock',
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: 'ca' } },
    authorization: { mode: 'Webhook' },
    evictionHard: { 'memory.available': '100Mi' },
    imageGCHighThresholdPercent: 100,
    podLogsDir: '/tmp/n/pod-logs',
    resolvConf: '',
  });
});

test('isolation rules drop what crosses the bridge except pod-to-pod, host-to-pod and replies', (t) => {
  const rules = isolationRules(nodePlan(3)).split('\n');
  const chain = rules.filter((rule) => rule.startsWith('-A CONCLAB-ISOLATE'));
  t.deepEqual(chain, [
    '-A CONCLAB-ISOLATE -i conclab0 -o conclab0 -j RETURN',
    '-A CONCLAB-ISOLATE -i uplink -o conclab0 -j RETURN',
    '-A CONCLAB-ISOLATE -i conclab0 -o uplink -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN',
    '-A CONCLAB-ISOLATE -j DROP',
  ]);
  t.true(rules.includes('-I FORWARD 1 -j CONCLAB-ISOLATE'));
  t.true(rules.includes('-A CONCLAB-HOST-SNAT -s 169.254.213.13/32 -o conclab0 -j MASQUERADE'));
});

test('kube-proxy leaves the kernel-wide conntrack sysctls alone and serves node ports on the pod range only', (t) => {
  const args = kubeProxyArgs(nodePlan(0), '/k');
  for (const flag of [
    '--proxy-mode=iptables',
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--nodeport-addresses=10.213.0.0/24',
    '--cluster-cidr=10.213.0.0/24',
  ]) {
    t.true(args.includes(flag), flag);
  }
});

test('COPY and ADD sources of a Dockerfile: continuation lines, flags, JSON form, stage copies skipped', (t) => {
  const dockerfile = [
    'FROM node:24-slim AS build',
    'COPY package.json package-lock.json ./',
    'COPY --chown=node:node workloads/node/ \\',
    '     workloads/node/',
    'ADD ["a b.txt", "c.txt", "/dst/"]',
    'COPY --from=build /app /app',
    'FROM build',
    'RUN echo COPY not-this',
  ].join('\n');
  t.deepEqual(copySources(dockerfile), ['package.json', 'package-lock.json', 'workloads/node/', 'a b.txt', 'c.txt']);
  t.deepEqual(fromImages(dockerfile), ['node:24-slim']);
  t.deepEqual(fromImages('FROM scratch\nFROM --platform=linux/amd64 python:3.12-slim\n'), ['python:3.12-slim']);
});

test('unqualified image references normalize the way buildah and the kubelet normalize them', (t) => {
  t.is(qualifiedReference('node:24-slim'), 'docker.io/library/node:24-slim');
  t.is(qualifiedReference('conclab/conclab:0.1.0'), 'docker.io/conclab/conclab:0.1.0');
  t.is(qualifiedReference('localhost/x:1'), 'localhost/x:1');
  t.is(qualifiedReference('registry.example:5000/x:1'), 'registry.example:5000/x:1');
  t.deepEqual(chartImageValues('docker.io/conclab/conclab:0.1.0'), {
    repository: 'docker.io/conclab/conclab',
    tag: '0.1.0',
  });
  t.throws(() => chartImageValues('host:5000/conclab'), { message: /no tag/ });
});

test('libcni cache entries: ours by network name, plus the loopback entries of our sandboxes only', (t) => {
  const ours = 'a'.repeat(64);
  const theirs = 'b'.repeat(64);
  const entries = [
    `conclab-node-0-${ours}-eth0`,
    `cni-loopback-${ours}-lo`,
    `cni-loopback-${theirs}-lo`,
    `conclab-node-1-${theirs}-eth0`,
    `other-${ours}-eth0`,
  ];
  t.deepEqual(ourCniEntries('conclab-node-0', entries), [`conclab-node-0-${ours}-eth0`, `cni-loopback-${ours}-lo`]);
});

test('certificate subjectAltNames accept DNS and IP entries and reject anything else', (t) => {
  t.is(subjectAltName(['DNS:kubernetes.default', 'IP:10.214.0.1']), 'DNS:kubernetes.default,IP:10.214.0.1');
  t.throws(() => subjectAltName([]), { message: /at least one/ });
  t.throws(() => subjectAltName(['URI:x']), { message: /"URI:x"/ });
});
