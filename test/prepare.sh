#!/usr/bin/env bash
# `npm test` runs this first: everything the tests need that npm does not bring. Idempotent and quick when warm:
#  - Debian packages, each installed from apt only when missing: chromium (the HTML report test
#    drives it through playwright-core) and what the real test node needs (containerd, runc,
#    CNI plugins, iptables, conntrack, buildah, mmdebstrap; see test/cluster/README.md);
#  - the test cluster binaries (etcd, kube-apiserver, kubectl, helm, kubelet, kube-scheduler,
#    kube-controller-manager, kube-proxy, pause) built from the Go module proxy by
#    test/cluster/build.sh into ${CONCLAB_CACHE:-$HOME/.cache/conclab}/bin, reused when there;
#  - the real node's images (pause, workload-node, workload-python, operator and their test
#    base images) built by test/cluster/build-images.ts, rebuilt only when their inputs changed.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_updated=0
apt_install() {
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  if [[ $apt_updated -eq 0 ]]; then
    "${sudo[@]}" apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  echo "prepare: chromium present ($(command -v chromium || command -v chromium-browser))"
else
  echo "prepare: installing chromium"
  apt_install chromium
fi

# The real test node (test/cluster/real-cluster.ts): runtime, networking, image building.
node_packages=(containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux openssl
  buildah mmdebstrap)
missing=()
for package in "${node_packages[@]}"; do installed "$package" || missing+=("$package"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "prepare: installing ${missing[*]}"
  apt_install "${missing[@]}"
else
  echo "prepare: test node packages present"
fi

for tool in openssl flock nsenter unshare; do
  command -v "$tool" >/dev/null || { echo "prepare: '$tool' is required by test/cluster (install it)" >&2; exit 1; }
done

test/cluster/build.sh all

if [[ $(id -u) -eq 0 ]]; then
  node_modules/node/bin/node test/cluster/build-images.ts
else
  echo "prepare: not root: skipping the real node's images (the real-node tests need root)" >&2
fi

# The Python workload's tracing environment (the pinned OpenTelemetry SDK from
# workloads/python/requirements.txt), as `conclab run` prepares it for runtime: python, so the
# Python span tests run instead of skipping. Cached per requirements hash; warm in about 2 s.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "prepare: installing python3-venv (python3 -m venv needs it)"
  apt_install python3-venv
fi
node_modules/node/bin/node --input-type=module -e "
const { ensurePythonTracingEnv } = await import('./operator/runtime/local/python-env.ts');
const env = await ensurePythonTracingEnv({ onProgress: (line) => console.log('prepare: python: ' + line) });
console.log('prepare: python tracing environment ' + env.dir + ' (CPython ' + env.version + ')');
"
