#!/usr/bin/env bash
# CTest fixture: start (or stop) a local control plane for the integration
# suites and install the CRDs from crds/.
#   cluster-fixture.sh up DIR [apiserver flags...] | down DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
action=$1 dir=$2
shift 2
case $action in
up)
	mkdir -p "$dir"
	"$top/test/local-cluster" start "$dir" "$@"
	kubectl --kubeconfig "$dir/kubeconfig" apply --server-side -f "$top/crds/" >/dev/null
	kubectl --kubeconfig "$dir/kubeconfig" wait --for condition=established --timeout=60s \
		-f "$top/crds/" >/dev/null
	echo "cluster up in $dir at $(cat "$dir/port" 2>/dev/null || echo '?')"
	;;
down)
	"$top/test/local-cluster" stop "$dir" || true
	;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
