#!/usr/bin/env bash
# The main job, on one command: a hub and two edge clusters, the federation
# operator between them, a FederatedPodGroup placed on both edges, its
# aggregated status, and 1,000 PodGroup statuses patched in bulk through
# `kubectl patch-status`.
#
#   scripts/demo.sh            (KEEP=1 keeps the work directory and its logs)
#
# Steps: install deps, build, then in a temporary directory start three local
# control planes (test/local-cluster: kube-apiserver + etcd, 127.0.0.1 only),
# register the edges as MemberClusters, run kclient-operator, and walk through
# the federation.  Everything is stopped and removed on exit, on failure and
# on Ctrl-C.  Takes under a minute after the build (20 to 50 s here, by load).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"

export BUILD_DIR=${BUILD_DIR:-$top/build}
E2E_DIR=$(mktemp -d /tmp/kclient-demo.XXXXXX)
export E2E_DIR
# shellcheck source=../test/e2e/lib.sh
. "$top/test/e2e/lib.sh"
# `kubectl patch-status` is the kubectl plugin build/kclient/kubectl-patch_status
export PATH=$BUILD_DIR/kclient:$PATH

NS=ai-team       # namespace of the FederatedPodGroup (hub) and of its member copies
BULK_NS=bulk     # namespace of the 1,000 PodGroups on edge1
BULK_N=1000
# The member PodGroups are scheduler-plugins' (both edges are Coscheduling
# members). Always by the full name: the short name "pg" is Volcano's too,
# and with both CRDs installed (as here, and on clusters that run both
# schedulers) a bare "pg" means Volcano's.
PG=podgroups.scheduling.x-k8s.io
EDGES=(edge1 edge2)
declare -A REGION=([edge1]=guangzhou [edge2]=shenzhen)
t_start=$SECONDS

# --- clean-up: always, once ---------------------------------------------------
cleaned=0
cleanup() {
	local rc=$?
	((cleaned)) && return
	cleaned=1
	set +e
	trap '' INT TERM
	if ((rc == 130 || rc == 143)); then
		echo "demo: interrupted after $((SECONDS - t_start))s" >&2
	elif ((rc != 0)); then
		echo "demo: FAILED (exit $rc) after $((SECONDS - t_start))s" >&2
		if [[ -s $E2E_DIR/operator.log ]]; then
			echo "---- last lines of the operator log ----" >&2
			tail -n 30 "$E2E_DIR/operator.log" >&2
		fi
	fi
	say "cleaning up: stopping the operator and the clusters, removing $E2E_DIR"
	operator_stop operator
	wait # clusters still starting, kubectl jobs: let them finish before stopping
	for c in hub "${EDGES[@]}"; do cluster_down "$c" & done
	wait
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "demo: kept $E2E_DIR" >&2
	else
		rm -rf "$E2E_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# die MESSAGE: fail the demo (the EXIT trap cleans up)
die() { echo "demo: $*" >&2; exit 1; }

# table: aligned columns from tab-separated lines
table() { awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } if (NF > n) n = NF }
	END { for (r = 1; r <= NR; r++) { for (i = 1; i <= n; i++) printf (i < n ? "%-" w[i] "s   " : "%s\n"), c[r, i] } }'; }

# free_port: a loopback port nobody listens on, below the ephemeral range
# (so no outgoing connection can be holding it as its local port)
free_port() {
	local lo p
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	((lo > 11000)) || lo=32768
	while :; do
		p=$((10000 + RANDOM % (lo - 10000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# --- 1. clusters ------------------------------------------------------------------
say "starting a hub and two edge clusters (guangzhou, shenzhen) in parallel, in $E2E_DIR …"
pids=()
for c in hub "${EDGES[@]}"; do
	cluster_up "$c" >"$E2E_DIR/$c.up.log" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	c=$([[ $i == 0 ]] && echo hub || echo "${EDGES[i - 1]}")
	wait "${pids[i]}" || { cat "$E2E_DIR/$c.up.log" >&2; die "cluster $c did not start"; }
done
for c in hub "${EDGES[@]}"; do
	printf '   %-5s %s\n' "$c" "$("$E2E_TOP/test/local-cluster" status "$E2E_DIR/$c")"
done

# --- 2. members and operator ---------------------------------------------------------
say "registering the edges as MemberClusters on the hub (kubeconfig Secrets in kclient-system) …"
for e in "${EDGES[@]}"; do register_member "$e" "${REGION[$e]}"; done

op_alive() { kill -0 "$(cat "$E2E_DIR/operator.pid")" 2>/dev/null; }
op_ready() { op_alive && curl -sf "http://127.0.0.1:$probe_port/readyz" >/dev/null; }
# ready, or gone, or its HTTP ports were taken meanwhile
op_settled() { op_ready || ! op_alive || grep -q "cannot serve HTTP" "$E2E_DIR/operator.log"; }
for attempt in 1 2 3; do
	probe_port=$(free_port)
	metrics_port=$(free_port)
	say "starting kclient-operator (health 127.0.0.1:$probe_port, metrics 127.0.0.1:$metrics_port) …"
	operator_start operator --health-probe-bind-address "127.0.0.1:$probe_port" \
		--metrics-bind-address "127.0.0.1:$metrics_port"
	wait_for 30 "the operator's /readyz" op_settled || break
	op_ready && break
	grep -q "cannot serve HTTP" "$E2E_DIR/operator.log" || break
	echo "   a port was taken meanwhile; again with others" >&2
	operator_stop operator
done
op_ready || die "the operator is not ready"

say "waiting until both MemberClusters are Ready …"
mc_ready() {
	local e
	for e in "${EDGES[@]}"; do
		[[ $(hubctl get mc "$e" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] || return 1
	done
}
wait_for 60 "MemberClusters Ready" mc_ready || die "members not Ready"
hubctl get mc -L region

# --- 3. a FederatedPodGroup on both edges ----------------------------------------------
say "creating FederatedPodGroup $NS/train-llm on the hub: placed by region In [guangzhou, shenzhen]; edge2 overrides minMember …"
hubctl create namespace "$NS" >/dev/null
hubctl apply --server-side -f - <<YAML
apiVersion: federation.kclient.io/v1alpha1
kind: FederatedPodGroup
metadata:
  name: train-llm
  namespace: $NS
spec:
  placement:
    clusterSelector:
      matchExpressions:
        - {key: region, operator: In, values: [guangzhou, shenzhen]}
  template:
    metadata:
      labels: {app: train-llm}
    spec:
      minMember: 8
      scheduleTimeoutSeconds: 120
  overrides:
    - clusterName: edge2
      patches:
        - {op: replace, path: /spec/minMember, value: 4}
  minReadyClusters: 2
YAML

say "waiting for the member PodGroups on each edge …"
member_pg() { edgectl "$1" get "$PG" -n "$NS" train-llm >/dev/null 2>&1; }
for e in "${EDGES[@]}"; do
	wait_for 30 "PodGroup $NS/train-llm on $e" member_pg "$e" || die "no member PodGroup on $e"
	echo "-- kubectl get $PG -A   ($e, region ${REGION[$e]})"
	edgectl "$e" get "$PG" -A
done
[[ $(edgectl edge1 get "$PG" -n "$NS" train-llm -o jsonpath='{.spec.minMember}') == 8 ]] || die "edge1: minMember is not 8"
[[ $(edgectl edge2 get "$PG" -n "$NS" train-llm -o jsonpath='{.spec.minMember}') == 4 ]] || die "edge2: the override (minMember 4) was not applied"
echo "   edge1 minMember 8 (template), edge2 minMember 4 (override)"

# --- 4. member schedulers report Running; the hub aggregates ----------------------------
say "simulating the member schedulers: the member PodGroups move to Running (status patches) …"
declare -A RUNNING=([edge1]=8 [edge2]=4)
for e in "${EDGES[@]}"; do
	edgectl "$e" patch "$PG" -n "$NS" train-llm --subresource=status --type merge \
		-p "{\"status\":{\"phase\":\"Running\",\"running\":${RUNNING[$e]}}}" >/dev/null
	echo "   $e: phase Running, running ${RUNNING[$e]}"
done

say "waiting for the hub's aggregated status …"
fpg_running() {
	[[ $(fpg_field "$NS" train-llm .status.phase) == Running &&
		$(fpg_field "$NS" train-llm .status.readyClusters) == 2 &&
		$(fpg_field "$NS" train-llm .status.running) == 12 ]]
}
wait_for 30 "FederatedPodGroup Running, 2 ready clusters, 12 running" fpg_running ||
	{ hubctl get fpg -n "$NS" train-llm -o yaml >&2; die "the hub status did not converge"; }
hubctl get fpg -A -o wide
echo "-- status.clusters"
hubctl get fpg -n "$NS" train-llm -o json | jq -r '
	["CLUSTER","APPLIED","MEMBER-PHASE","RUNNING","STALE","LAST-OBSERVED"],
	(.status.clusters[] | [.clusterName, .applied, .memberPhase, .running, .stale, .lastObservedTime])
	| @tsv' | table
echo "-- status.conditions"
hubctl get fpg -n "$NS" train-llm -o json | jq -r '
	["TYPE","STATUS","REASON","MESSAGE"], (.status.conditions[] | [.type, .status, .reason, .message]) | @tsv' | table

# --- 5. 1,000 PodGroups on edge1, statuses patched in bulk -----------------------------
say "creating $BULK_N PodGroups in namespace $BULK_NS on edge1 (4 server-side applies of generated Lists, in parallel) …"
edgectl edge1 create namespace "$BULK_NS" >/dev/null
t0=$EPOCHREALTIME
pids=()
for part in 0 1 2 3; do
	jq -n --arg ns "$BULK_NS" --argjson part "$part" --argjson n "$BULK_N" '{
		apiVersion: "v1", kind: "List",
		items: [range($part; $n; 4) | {
			apiVersion: "scheduling.x-k8s.io/v1alpha1", kind: "PodGroup",
			metadata: {name: ("job-\(. | tostring | ("0000" + .)[-4:])"), namespace: $ns, labels: {app: "bulk-demo"}},
			spec: {minMember: 2}}]}' |
		edgectl edge1 apply --server-side -f - >/dev/null &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "creating the PodGroups failed"; done
created=$(edgectl edge1 get "$PG" -n "$BULK_NS" -l app=bulk-demo -o name | wc -l)
printf '   %d PodGroups created in %ss\n' "$created" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
((created == BULK_N)) || die "expected $BULK_N PodGroups, found $created"

say "kubectl patch-status $PG -n $BULK_NS -l app=bulk-demo --patch '{\"status\":{\"phase\":\"Running\"}}' …"
# kubectl finds the plugin kubectl-patch_status on PATH
KUBECONFIG=$E2E_DIR/edge1/kubeconfig kubectl patch-status "$PG" -n "$BULK_NS" -l app=bulk-demo \
	--patch '{"status":{"phase":"Running"}}' </dev/null ||
	die "kubectl patch-status failed"

say "checking with kubectl that all $BULK_N are Running …"
read -r total running < <(edgectl edge1 get "$PG" -n "$BULK_NS" -l app=bulk-demo -o json |
	jq -r '[.items | length, (map(select(.status.phase == "Running")) | length)] | @tsv')
echo "   $running of $total PodGroups are Running"
((total == BULK_N && running == BULK_N)) || die "not all $BULK_N PodGroups are Running"
edgectl edge1 get "$PG" -n "$BULK_NS" job-0000 job-0001 job-0999

say "the operator's counters (/metrics) …"
curl -sf "http://127.0.0.1:$metrics_port/metrics" |
	grep -E '^(controller_runtime_reconcile_total|kclient_status_(batches|writes)_total|kclient_member_writes_total|kclient_member_ready)' |
	sed 's/^/   /' || true

op_alive || die "the operator exited"
say "demo OK in $((SECONDS - t_start))s after the build"
