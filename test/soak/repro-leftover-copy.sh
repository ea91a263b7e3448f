#!/usr/bin/env bash
# test/soak/repro-leftover-copy.sh - reproduces a bug the soak finds: a
# FederatedPodGroup with deletionPolicy Delete is deleted and its finalizer
# released while a member copy still exists, so the copy is left behind for
# good.
#
# How: the operator applies the member copy; the member creates it, but the
# link drops before the answer (and before the watch event) reaches the
# operator.  The FederatedPodGroup is deleted right then.  The member is still
# within its grace period, so it counts as online, and reconcile_delete
# (operator/fpg.c) decides from the member informer's cache - which has
# never seen the copy - that there is nothing to delete, and removes the
# finalizer.  Nothing ever looks at the copy again.
#
# Exit 0 when the bug reproduces (copy left behind), 1 when it does not.
set -uo pipefail
export E2E_DIR=${E2E_DIR:-$(mktemp -d /tmp/kc-repro.XXXXXX)}
source "$(dirname "$0")/../e2e/lib.sh"

proxy_pid=""
cleanup() {
	operator_stop op KILL >/dev/null 2>&1
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
	for c in hub edge1; do cluster_down "$c"; done
	[ -n "${KEEP:-}" ] || rm -rf "$E2E_DIR"
}
trap cleanup EXIT

say "hub and edge1 (behind the fault proxy)"
for c in hub edge1; do cluster_up "$c" & done
wait
proxy_up edge1 || exit 2
# a long grace period: edge1 stays "online" for the whole experiment
PROBE_PERIOD=2 PROBE_TIMEOUT=1 GRACE=60 register_member edge1 guangzhou "$E2E_DIR/edge1-via-proxy.kubeconfig"
operator_start op -v 4 --metrics-bind-address 0 --health-probe-bind-address 0
wait_for 30 "edge1 Ready=True" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig get mc edge1 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]" || exit 2
hubctl create namespace team1 >/dev/null

say "2 s of latency on the link, then a FederatedPodGroup placed on edge1"
proxy "latency?ms=2000"
hubctl apply -f - >/dev/null <<YAML
apiVersion: federation.kclient.io/v1alpha1
kind: FederatedPodGroup
metadata: {name: gang, namespace: team1}
spec:
  placement: {clusterNames: [edge1]}
  template: {spec: {minMember: 3}}
  deletionPolicy: Delete
YAML
wait_for 15 "edge1 has the copy (seen directly, not through the proxy)" \
	edgectl edge1 -n team1 get podgroups.scheduling.x-k8s.io gang || exit 2
say "the copy exists; cut the link before the answer gets back, delete the FederatedPodGroup"
proxy "mode?set=cut"
hubctl -n team1 delete fpg gang --wait=false >/dev/null
wait_for 20 "the hub object is gone (finalizer released)" sh -c "! kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang" ||
	{ echo "finalizer kept while the link is down: not reproduced this time"; }
say "link back; give the operator time to clean up"
proxy "latency?ms=0"
proxy "mode?set=pass"
sleep 20
if edgectl edge1 -n team1 get podgroups.scheduling.x-k8s.io gang >/dev/null 2>&1 &&
	! hubctl -n team1 get fpg gang >/dev/null 2>&1; then
	echo "REPRODUCED: team1/gang is gone from the hub (deletionPolicy Delete) but its copy is still on edge1:"
	edgectl edge1 -n team1 get podgroups.scheduling.x-k8s.io gang -o jsonpath='{.metadata.creationTimestamp} {.metadata.labels}{"\n"}'
	echo "operator log (edge1 and gang):"
	grep -E 'gang|finalizer' "$E2E_DIR/op.log" | grep -v '"GET ' | tail -15
	exit 0
fi
echo "not reproduced"
exit 1
