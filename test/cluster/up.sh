#!/usr/bin/env bash
# Starts the shared real single-node test cluster (see test/cluster/README.md) and keeps it up
# until test/cluster/down.sh. Usage: eval "$(test/cluster/up.sh)"   # sets KUBECONFIG
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
node="$repo/node_modules/node/bin/node"
[[ -x $node ]] || { echo "up.sh: $node missing; run npm ci first" >&2; exit 1; }
exec "$node" "$repo/test/cluster/up.ts"
