#!/usr/bin/env bash
# `npm test` runs this first: everything the tests need that npm does not bring. Idempotent and quick when warm:
#  - chromium (the HTML report test drives it through playwright-core), from apt only if absent;
#  - the test control-plane binaries (etcd, kube-apiserver, kubectl, helm) built from the Go
#    module proxy by test/cluster/build.sh into ${CONCLAB_CACHE:-$HOME/.cache/conclab}/bin,
#    reused when already there (a cold build takes several minutes, see test/cluster/README.md).
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

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  echo "prepare: chromium present ($(command -v chromium || command -v chromium-browser))"
else
  echo "prepare: installing chromium"
  apt_install chromium
fi

for tool in openssl flock; do
  command -v "$tool" >/dev/null || { echo "prepare: '$tool' is required by test/cluster (install it)" >&2; exit 1; }
done

test/cluster/build.sh
