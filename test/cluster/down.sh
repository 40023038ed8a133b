#!/usr/bin/env bash
# Stops the shared real test cluster and sweeps whatever a dead (SIGKILLed) run left behind:
# processes, mounts, cgroups, the veth, libcni cache entries, temp dirs. Slots held by a live
# test process are left alone. See test/cluster/README.md.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
node="$repo/node_modules/node/bin/node"
[[ -x $node ]] || { echo "down.sh: $node missing; run npm ci first" >&2; exit 1; }
exec "$node" "$repo/test/cluster/down.ts"
