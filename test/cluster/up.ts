// `test/cluster/up.sh`: starts the shared real test cluster (or joins the running one) and keeps
// it up until `test/cluster/down.sh`. Prints `export KUBECONFIG=...` on stdout (so
// `eval "$(test/cluster/up.sh)"` works) and everything else on stderr.
import { nodeImages } from './images.ts';
import { useSharedCluster } from './shared-cluster.ts';

const started = Date.now();
console.error('up: starting (or joining) the shared test cluster; a cold start imports every image');
try {
  const cluster = await useSharedCluster({ manual: true, holder: 'up.sh' });
  const lines = [
    `up: ${cluster.nodeName} ready (${((Date.now() - started) / 1000).toFixed(1)} s): API ${cluster.server}`,
    `up: pods ${cluster.podCidr}, Services ${cluster.serviceCidr}, images: ${nodeImages.map((name) => cluster.images[name]).join(' ')}`,
    `up: kubectl is ${cluster.binaries.kubectl}, helm is ${cluster.binaries.helm}`,
    `up: inside the node: nsenter --net=${cluster.netns} --mount=${cluster.mntns} -- iptables-save`,
    `up: logs in ${cluster.dir}/logs; stop with test/cluster/down.sh`,
  ];
  for (const line of lines) console.error(line);
  console.log(`export KUBECONFIG=${cluster.kubeconfigPath}`);
  process.exit(0);
} catch (error) {
  console.error(`up: ${(error as Error).message}`);
  process.exit(1);
}
