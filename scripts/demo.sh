#!/usr/bin/env bash
# The main job: start a local control plane, run kclient against it, stop it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"
build=${BUILD_DIR:-$top/build}
work=$(mktemp -d /tmp/kclient-demo.XXXXXX)
cleanup() { "$top/test/local-cluster" stop "$work/hub" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
echo "== starting a local control plane (kube-apiserver + etcd) in $work/hub"
"$top/test/local-cluster" start "$work/hub"
kc="kubectl --kubeconfig $work/hub/kubeconfig"
$kc apply --server-side -f "$top/crds/" >/dev/null
$kc wait --for condition=established --timeout=60s -f "$top/crds/" >/dev/null
echo "== kclient-hello: discovery, create, server-side apply of status, list"
"$build/examples/kclient-hello" --kubeconfig "$work/hub/kubeconfig"
echo "== the same objects through kubectl"
$kc get podgroups -n kclient-demo
echo "== done; stopping the control plane"
