#!/usr/bin/env bash
# End to end: the operator against three real control planes (a hub and two
# edges), run the way the Deployment runs it: in-cluster configuration from a
# service-account token minted for deploy/'s ServiceAccount, bound by
# deploy/'s RBAC, two replicas with leader election.  edge1 serves
# scheduler-plugins PodGroups, edge2 (behind the TCP fault proxy) Volcano's.
set -uo pipefail
export E2E_DIR=${E2E_DIR:-$(mktemp -d /tmp/kc-e2e.XXXXXX)}
source "$(dirname "$0")/lib.sh"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # description command...
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
eventually() { # seconds description command...
	local secs=$1 what=$2
	shift 2
	if wait_for "$secs" "$what" "$@"; then ok "$what"; else bad "$what"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

proxy_pid=""
cleanup() {
	for r in op-a op-b; do operator_stop "$r" KILL >/dev/null 2>&1; done
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
	for c in hub edge1 edge2; do cluster_down "$c"; done
	if [ "$failed" != 0 ]; then
		for r in op-a op-b; do echo "--- $r log (tail)"; tail -30 "$E2E_DIR/$r.log" 2>/dev/null; done
	fi
	rm -rf "$E2E_DIR"
}
trap cleanup EXIT

say "starting hub, edge1, edge2"
for c in hub edge1 edge2; do cluster_up "$c" & done
wait

# edge2 behind the fault proxy
proxy_up edge2 || exit 1

say "installing deploy/ RBAC and laying out the service-account mount"
hubctl apply -f "$E2E_TOP/deploy/namespace.yaml" -f "$E2E_TOP/deploy/serviceaccount.yaml" -f "$E2E_TOP/deploy/rbac.yaml" >/dev/null
sa=$E2E_DIR/serviceaccount
mkdir -p "$sa"
hubctl -n kclient-system create token kclient-operator --duration 2h >"$sa/token"
cp "$E2E_DIR/hub/ca.crt" "$sa/ca.crt"
echo kclient-system >"$sa/namespace"
register_member edge1 guangzhou
MEMBER_API=Volcano register_member edge2 shenzhen "$E2E_DIR/edge2-via-proxy.kubeconfig"

run_replica() { # NAME: in-cluster, leader election, short lease for the test
	local name=$1 probe metrics
	probe=$(free_port)
	metrics=$(free_port)
	echo "$probe" >"$E2E_DIR/$name.probe"
	echo "$metrics" >"$E2E_DIR/$name.metrics"
	KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat "$E2E_DIR/hub/port") \
		"$OPERATOR_BIN" --service-account-dir "$sa" --namespace kclient-system --leader-elect \
		--identity "$name" --lease-duration 4s --renew-deadline 3s --retry-period 1s \
		--health-probe-bind-address "127.0.0.1:$probe" --metrics-bind-address "127.0.0.1:$metrics" \
		--status-batch-interval 50ms -v 2 >"$E2E_DIR/$name.log" 2>&1 &
	echo $! >"$E2E_DIR/$name.pid"
}
metric() { curl -s "http://127.0.0.1:$(cat "$E2E_DIR/$1.metrics")/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
ready() { curl -sf "http://127.0.0.1:$(cat "$E2E_DIR/$1.probe")/readyz" >/dev/null; }
holder() { hubctl -n kclient-system get lease kclient-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }

say "two operator replicas"
run_replica op-a
wait_for 30 "op-a leads" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n kclient-system get lease kclient-operator -o jsonpath='{.spec.holderIdentity}')\" = op-a ]" &&
	ok "op-a took the lease" || bad "op-a took the lease"
run_replica op-b
eventually 30 "both replicas ready (caches synced)" sh -c "curl -sf http://127.0.0.1:$(cat $E2E_DIR/op-a.probe)/readyz && curl -sf http://127.0.0.1:$(cat $E2E_DIR/op-b.probe)/readyz"
mc_ready() { [ "$(hubctl get mc "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ]; }
eventually 30 "edge1 Ready=True" mc_ready edge1 True
eventually 30 "edge2 Ready=True (through the proxy)" mc_ready edge2 True
check "MemberCluster reports the member's version" sh -c "kubectl --kubeconfig $E2E_DIR/hub/kubeconfig get mc edge1 -o jsonpath='{.status.kubernetesVersion}' | grep -q v1."

say "create a FederatedPodGroup placed on both edges"
hubctl create namespace team1 >/dev/null
apply_fpg() { # NAME MINMEMBER REGIONS(comma) [POLICY]
	hubctl apply -f - >/dev/null <<YAML
apiVersion: federation.kclient.io/v1alpha1
kind: FederatedPodGroup
metadata: {name: $1, namespace: team1}
spec:
  placement:
    clusterSelector:
      matchExpressions: [{key: region, operator: In, values: [$3]}]
  template:
    metadata: {labels: {app: $1}}
    spec: {minMember: $2, queue: default}
  overrides:
  - clusterName: edge2
    patches: [{op: add, path: /metadata/labels/edge, value: "shenzhen"}]
  deletionPolicy: ${4:-Delete}
YAML
}
apply_fpg gang 4 "guangzhou, shenzhen"
e1pg() { edgectl edge1 get podgroups.scheduling.x-k8s.io -n team1 "$@"; }
e2pg() { edgectl edge2 get podgroups.scheduling.volcano.sh -n team1 "$@"; }
eventually 30 "edge1 has the scheduler-plugins PodGroup" e1pg gang
eventually 30 "edge2 has the Volcano PodGroup" e2pg gang
check "member copy carries minMember 4" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang -o jsonpath='{.spec.minMember}')\" = 4 ]"
check "override applied on edge2 only" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang -o jsonpath='{.metadata.labels.edge}')\" = shenzhen ] && [ -z \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang -o jsonpath='{.metadata.labels.edge}')\" ]"
check "Volcano copy has its queue, scheduler-plugins copy has none" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang -o jsonpath='{.spec.queue}')\" = default ]"
check "applied with field manager kclient-federation" sh -c "kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang -o json --show-managed-fields | jq -e '.metadata.managedFields[] | select(.manager==\"kclient-federation\" and .operation==\"Apply\")'"
check "the hub object got the finalizer" sh -c "kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o jsonpath='{.metadata.finalizers}' | grep -q federation.kclient.io/cleanup"

say "member schedulers move their PodGroups to Running"
edgectl edge1 -n team1 patch podgroups.scheduling.x-k8s.io gang --subresource=status --type merge -p '{"status":{"phase":"Running","running":4}}' >/dev/null
# Volcano has no status subresource: its scheduler writes the whole object
edgectl edge2 -n team1 patch podgroups.scheduling.volcano.sh gang --type merge -p '{"status":{"phase":"Running","running":5}}' >/dev/null
eventually 20 "hub phase Running with 2 ready clusters and summed counts" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o jsonpath='{.status.phase}/{.status.readyClusters}/{.status.running}')\" = Running/2/9 ]"
check "conditions Applied, Ready and StatusFresh are True" sh -c "kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o json | jq -e '[.status.conditions[] | select(.status==\"True\")] | length == 3'"
check "status written by the leader only (standby wrote nothing)" sh -c "[ \"\$(curl -s http://127.0.0.1:$(cat $E2E_DIR/op-b.metrics)/metrics | awk '\$1==\"kclient_status_writes_total\"{print \$2}')\" = 0 ] && [ \"\$(curl -s http://127.0.0.1:$(cat $E2E_DIR/op-b.metrics)/metrics | awk '\$1==\"leader_election_master_status{name=\\\"kclient-operator\\\"}\"{print \$2}')\" = 0 ]"
check "metrics carry controller-runtime and workqueue names" sh -c "curl -s http://127.0.0.1:$(cat $E2E_DIR/op-a.metrics)/metrics | grep -q '^controller_runtime_reconcile_total{controller=\"federatedpodgroup\",result=\"success\"}' && curl -s http://127.0.0.1:$(cat $E2E_DIR/op-a.metrics)/metrics | grep -q '^workqueue_adds_total'"

say "update: minMember 4 -> 6"
apply_fpg gang 6 "guangzhou, shenzhen"
eventually 20 "both copies updated to 6" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang -o jsonpath='{.spec.minMember}')\" = 6 ] && [ \"\$(kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang -o jsonpath='{.spec.minMember}')\" = 6 ]"
eventually 20 "appliedGeneration 2 reported for both" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o jsonpath='{.status.clusters[*].appliedGeneration}')\" = '2 2' ]"

say "drift: someone else edits the member copy"
edgectl edge1 -n team1 patch podgroups.scheduling.x-k8s.io gang --type merge --field-manager intruder \
	-p '{"spec":{"minMember":99},"metadata":{"labels":{"owner":"someone"}}}' >/dev/null
eventually 20 "minMember restored to 6" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang -o jsonpath='{.spec.minMember}')\" = 6 ]"
check "a field owned by another manager is left alone" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang -o jsonpath='{.metadata.labels.owner}')\" = someone ]"

say "placement change: guangzhou only"
apply_fpg gang 6 "guangzhou"
eventually 20 "edge2 copy removed" sh -c "! kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang"
eventually 20 "placedClusters 1" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o jsonpath='{.status.placedClusters}')\" = 1 ]"
apply_fpg gang 6 "guangzhou, shenzhen"
eventually 20 "placed on both again" e2pg gang
edgectl edge2 -n team1 patch podgroups.scheduling.volcano.sh gang --type merge -p '{"status":{"phase":"Running","running":5}}' >/dev/null
eventually 20 "Running on both again" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o jsonpath='{.status.phase}/{.status.readyClusters}')\" = Running/2 ]"

say "edge2 cut off by the fault proxy"
e2_uid=$(edgectl edge2 -n team1 get podgroups.scheduling.volcano.sh gang -o jsonpath='{.metadata.uid}')
[ -n "$e2_uid" ] && ok "edge2's copy before the cut: uid $e2_uid" || bad "edge2 has no copy before the cut"
cut_at=$SECONDS
proxy "mode?set=cut"
eventually 20 "edge2 Ready=Unknown" mc_ready edge2 Unknown
took=$((SECONDS - cut_at))
[ "$took" -le $((4 + 2 + 6)) ] && ok "marked within grace + period (+ slack): ${took}s" || bad "marked after ${took}s"
eventually 20 "edge2 entry stale, last-known values kept" sh -c "kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o json | jq -e '.status.clusters[] | select(.clusterName==\"edge2\") | .stale == true and .memberPhase == \"Running\" and .running == 5'"
check "StatusFresh False while edge2 is away" sh -c "kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o json | jq -e '.status.conditions[] | select(.type==\"StatusFresh\") | .status == \"False\"'"
apply_fpg gang 8 "guangzhou, shenzhen"  # a change made on the hub during the outage
eventually 20 "edge1 follows the change at once" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang -o jsonpath='{.spec.minMember}')\" = 8 ]"
# the cut must have bitten (the operator saw the member as Unknown above);
# the member is read directly, not through the proxy
check "nothing deleted on edge2 while it was offline (same uid)" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang -o jsonpath='{.metadata.uid}')\" = '$e2_uid' ]"
proxy "mode?set=pass"
eventually 30 "edge2 Ready=True again" mc_ready edge2 True
eventually 30 "the outage's change reaches edge2" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang -o jsonpath='{.spec.minMember}')\" = 8 ]"
check "reconnection updated the copy in place, not by delete and re-create (same uid)" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang -o jsonpath='{.metadata.uid}')\" = '$e2_uid' ]"
eventually 30 "converged: fresh, Running, 2 ready" sh -c "kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o json | jq -e '[.status.clusters[] | select(.stale)] | length == 0' && [ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang -o jsonpath='{.status.phase}/{.status.readyClusters}')\" = Running/2 ]"

say "leader killed: the standby takes over"
operator_stop op-a KILL
eventually 20 "op-b holds the lease" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n kclient-system get lease kclient-operator -o jsonpath='{.spec.holderIdentity}')\" = op-b ]"
apply_fpg keep 2 "guangzhou, shenzhen" Orphan
eventually 30 "the new leader applies new work" sh -c "kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io keep && kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh keep"

say "delete with both policies"
hubctl -n team1 delete fpg gang --wait=false >/dev/null
eventually 30 "Delete: member copies removed" sh -c "! kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io gang && ! kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh gang"
eventually 30 "Delete: hub object gone (finalizer released)" sh -c "! kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg gang"
hubctl -n team1 delete fpg keep --wait=false >/dev/null
eventually 30 "Orphan: hub object gone" sh -c "! kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n team1 get fpg keep"
check "Orphan: member copies kept" sh -c "kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io keep && kubectl --kubeconfig $E2E_DIR/edge2/kubeconfig -n team1 get podgroups.scheduling.volcano.sh keep"
check "Orphan: kept copies are no longer labelled as ours" sh -c "[ -z \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io keep -o jsonpath='{.metadata.labels.federation\.kclient\.io/managed-by}{.metadata.labels.federation\.kclient\.io/fpg-name}')\" ]"

say "a copy of ours whose hub object is gone (a deposed leader's late apply) is removed"
kubectl --kubeconfig "$E2E_DIR/edge1/kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: scheduling.x-k8s.io/v1alpha1
kind: PodGroup
metadata:
  name: ghost
  namespace: team1
  labels: {federation.kclient.io/managed-by: kclient-federation, federation.kclient.io/fpg-namespace: team1, federation.kclient.io/fpg-name: ghost}
  annotations: {federation.kclient.io/deletion-policy: Delete}
spec: {minMember: 1}
---
apiVersion: scheduling.x-k8s.io/v1alpha1
kind: PodGroup
metadata:
  name: ghost-orphan
  namespace: team1
  labels: {federation.kclient.io/managed-by: kclient-federation, federation.kclient.io/fpg-namespace: team1, federation.kclient.io/fpg-name: ghost-orphan}
  annotations: {federation.kclient.io/deletion-policy: Orphan}
spec: {minMember: 1}
---
apiVersion: scheduling.x-k8s.io/v1alpha1
kind: PodGroup
metadata: {name: bystander, namespace: team1}
spec: {minMember: 1}
EOF
ghost_orphan_uid=$(edgectl edge1 -n team1 get podgroups.scheduling.x-k8s.io ghost-orphan -o jsonpath='{.metadata.uid}')
eventually 30 "stray copy (deletion-policy Delete) deleted" sh -c "! kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io ghost"
eventually 30 "stray copy (deletion-policy Orphan) released, not deleted" sh -c "[ \"\$(kubectl --kubeconfig $E2E_DIR/edge1/kubeconfig -n team1 get podgroups.scheduling.x-k8s.io ghost-orphan -o jsonpath='{.metadata.uid}/{.metadata.labels.federation\.kclient\.io/managed-by}')\" = '$ghost_orphan_uid/' ]"
check "a PodGroup that is not ours is left alone" kubectl --kubeconfig "$E2E_DIR/edge1/kubeconfig" -n team1 get podgroups.scheduling.x-k8s.io bystander
check "an orphaned copy is left alone" kubectl --kubeconfig "$E2E_DIR/edge1/kubeconfig" -n team1 get podgroups.scheduling.x-k8s.io keep

say "SIGTERM: drain, release the lease, exit"
t0=$SECONDS
operator_stop op-b TERM
rc=$?
[ "$rc" = 0 ] && ok "exit status 0 after SIGTERM" || bad "exit status $rc after SIGTERM"
[ $((SECONDS - t0)) -le 25 ] && ok "exited within the grace period ($((SECONDS - t0))s)" || bad "took $((SECONDS - t0))s"
check "lease released (holder empty)" sh -c "[ -z \"\$(kubectl --kubeconfig $E2E_DIR/hub/kubeconfig -n kclient-system get lease kclient-operator -o jsonpath='{.spec.holderIdentity}')\" ]"
check "no secret in any log" sh -c "! grep -F \"\$(cat $sa/token)\" $E2E_DIR/op-a.log $E2E_DIR/op-b.log"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
