#!/usr/bin/env bash
# Builds the test-only cluster binaries from the Go module proxy into a cache OUTSIDE the
# repository, keyed by version:
#   ${CONCLAB_CACHE:-$HOME/.cache/conclab}/bin/<component>-<version>/<binary>
# The control plane (etcd, kube-apiserver, kubectl, helm) is built by default; the real node's
# parts (kubelet, kube-scheduler, kube-controller-manager, kube-proxy and the pause program of
# the local pause image, keyed by a hash of its source) when named, or all of them with `all`.
# Versions come from the wrapper modules' go.mod files in test/cluster/go/ (single source of
# truth; control-plane.ts reads the same files). A binary already in the cache is reused, so a
# second run takes well under a second. Builds go to a temp name and are renamed when complete,
# so an interrupted build never leaves a truncated binary behind.
#
# Usage: test/cluster/build.sh [component...|all]
#   components: etcd kube-apiserver kubectl helm kubelet kube-scheduler kube-controller-manager
#               kube-proxy pause
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CONCLAB_CACHE:-$HOME/.cache/conclab}"
started=$SECONDS

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { echo "build.sh: 'go' not found on PATH; install Go >= 1.26" >&2; exit 1; }

# Version of module $2 required in wrapper module $1 (e.g. "kube" "k8s.io/kubernetes").
module_version() {
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' \
    "$here/go/$1/go.mod"
}

kube_version="$(module_version kube k8s.io/kubernetes)"
etcd_version="$(module_version etcd go.etcd.io/etcd/server/v3)"
helm_version="$(module_version helm helm.sh/helm/v3)"
for v in "$kube_version" "$etcd_version" "$helm_version"; do
  [[ $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "build.sh: cannot read a version from test/cluster/go/*/go.mod (got '$v')" >&2; exit 1; }
done
kube_minor="${kube_version#v1.}"; kube_minor="${kube_minor%%.*}"

# -mod=readonly: build exactly what the committed go.sum pins. -buildvcs=false: the wrapper
# modules sit inside the conclab checkout, whose git state says nothing about these binaries.
export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly -buildvcs=false"

# build <wrapper-dir> <package> <output> <ldflags>
build() {
  local dir="$1" pkg="$2" out="$3" ldflags="$4"
  if [[ -x "$out" ]]; then
    echo "build.sh: cached $out"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  local t0=$SECONDS
  echo "build.sh: building $pkg -> $out"
  (cd "$here/go/$dir" && go build -p 2 -ldflags "-s -w $ldflags" -o "$out.tmp.$$" "$pkg")
  mv -f "$out.tmp.$$" "$out"
  echo "build.sh: built $(basename "$out") in $((SECONDS - t0))s"
}

kube_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$kube_minor -X $p.gitTreeState=clean"
done

helm_kube_ldflags=""
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_kube_ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kube_minor"
done

# The pause program has no version of its own: its cache key is a hash of its source.
pause_hash="$(cat "$here/images/pause/go.mod" "$here/images/pause/main.go" | sha256sum | cut -c1-12)"

control_plane=(etcd kube-apiserver kubectl helm)
node=(kubelet kube-scheduler kube-controller-manager kube-proxy pause)
want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=("${control_plane[@]}")
[[ ${#want[@]} -ne 1 || ${want[0]} != all ]] || want=("${control_plane[@]}" "${node[@]}")

# One build at a time per cache (CI and a developer, or two test runs, may call this together).
mkdir -p "$cache/bin"
exec 9>"$cache/bin/.build.lock"
flock 9

for c in "${want[@]}"; do
  case "$c" in
    etcd) build etcd go.etcd.io/etcd/server/v3 "$cache/bin/etcd-$etcd_version/etcd" \
      "-X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version" ;;
    kube-apiserver) build kube k8s.io/kubernetes/cmd/kube-apiserver "$cache/bin/kubernetes-$kube_version/kube-apiserver" "$kube_ldflags" ;;
    kubectl) build kube k8s.io/kubernetes/cmd/kubectl "$cache/bin/kubernetes-$kube_version/kubectl" "$kube_ldflags" ;;
    kubelet | kube-scheduler | kube-controller-manager | kube-proxy)
      build kube "k8s.io/kubernetes/cmd/$c" "$cache/bin/kubernetes-$kube_version/$c" "$kube_ldflags" ;;
    pause) build ../images/pause . "$cache/bin/pause-$pause_hash/pause" "" ;;
    # helm's default .Capabilities.KubeVersion (template, lint) is set to the test API server's.
    helm) build helm helm.sh/helm/v3/cmd/helm "$cache/bin/helm-$helm_version/helm" \
      "-X helm.sh/helm/v3/internal/version.version=$helm_version $helm_kube_ldflags" ;;
    *) echo "build.sh: unknown component '$c' (expected all, ${control_plane[*]} or ${node[*]})" >&2; exit 2 ;;
  esac
done

echo "build.sh: done in $((SECONDS - started))s (cache: $cache/bin)"
