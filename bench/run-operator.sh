#!/usr/bin/env bash
# bench/run-operator.sh - the federation operator under load, in one command.
#
#   bench/run-operator.sh [-n N] [--timeout SECONDS] [--idle SECONDS] [--operator BINARY]
#                         [--keep] [-- OPERATOR FLAGS...]
#
# 1. builds kclient-operator and kubectl-patch_status in $BUILD_DIR (default
#    build/; CPU numbers mean something only for an optimised build: a new
#    directory is configured RelWithDebInfo, e.g. BUILD_DIR=/tmp/kc-rel);
# 2. starts a hub and two edge clusters (test/local-cluster, 127.0.0.1 only)
#    in a temporary directory, registers the edges as MemberClusters
#    (regions guangzhou, shenzhen) and runs the operator (test/e2e/lib.sh);
# 3. apply phase: creates N FederatedPodGroups (default 1000) on the hub,
#    placed on both edges by a clusterSelector, with 8 parallel
#    `kubectl apply --server-side` of generated Lists, and measures the time
#    until every one shows status.placedClusters=2 and Applied=True;
# 4. burst phase: patches the status of all 2N member PodGroups to Running
#    (`kubectl patch-status podgroups.scheduling.x-k8s.io -A -l federation.kclient.io/managed-by=...`
#    against both edges at once) and measures the time until every
#    FederatedPodGroup shows phase Running, readyClusters=2, running=6;
# 5. idle: nothing changes for --idle seconds (default 35); counts what the
#    operator still does (reconciles, CPU, requests);
# 6. prints a summary: times, the operator's CPU seconds (/proc/PID/stat)
#    and peak RSS (VmHWM), and its /metrics counters per phase: reconciles,
#    member writes, status batches (PatchStatusAll runs) and status writes.
#
# Completion is observed by bench/operator/fpg_watch.py (list + watch of the
# hub's FederatedPodGroups: exact times, no polling load).  Each phase is
# bounded by --timeout (default 120 s); the whole run takes about 2 to 2.5
# minutes.  Clusters, operator and temp dir are removed on exit (--keep
# keeps the directory and its logs).  One JSON line per run is appended to
# $KC_BENCH_OUT (default /tmp/kclient-bench-operator.jsonl).
set -euo pipefail

N=1000 TIMEOUT=120 IDLE=35 KEEP=0 OP_FLAGS=() OP_BIN=""
while (($#)); do
	case $1 in
	-n) N=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--idle) IDLE=$2; shift 2 ;;
	--operator) OP_BIN=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--) shift; OP_FLAGS=("$@"); break ;;
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
	*) echo "run-operator: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$ROOT/build}
OUT=${KC_BENCH_OUT:-/tmp/kclient-bench-operator.jsonl}
E2E_DIR=$(mktemp -d /tmp/kclient-bench-op.XXXXXX)
export E2E_DIR
# shellcheck source=../test/e2e/lib.sh
. "$ROOT/test/e2e/lib.sh"
export PATH=$BUILD_DIR/kclient:$PATH
[[ -n $OP_BIN ]] && OPERATOR_BIN=$(realpath "$OP_BIN")
NS=bench
EDGES=(edge1 edge2)
declare -A REGION=([edge1]=guangzhou [edge2]=shenzhen)
RUNNING_EACH=3
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "run-operator: $*"; exit 1; }

cleaned=0
cleanup() {
	local rc=$?
	((cleaned)) && return
	cleaned=1
	set +e
	trap '' INT TERM
	if ((rc != 0)) && [[ -s $E2E_DIR/operator.log ]]; then
		log "failed (exit $rc); last lines of the operator log:"
		tail -n 20 "$E2E_DIR/operator.log" >&2
	fi
	[[ -n ${WATCH_PID:-} ]] && kill "$WATCH_PID" 2>/dev/null
	operator_stop operator
	wait
	for c in hub "${EDGES[@]}"; do cluster_down "$c" & done
	wait
	if ((KEEP)); then log "kept $E2E_DIR"; else rm -rf "$E2E_DIR"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
now() { printf '%s' "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# --- the operator's process and metrics -------------------------------------------
op_pid() { cat "$E2E_DIR/operator.pid"; }
CLK_TCK=$(getconf CLK_TCK)
pid_cpu() { # PID: utime + stime in seconds
	awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"
}
op_cpu() { pid_cpu "$(op_pid)"; }
# cpu_all: "operator hub edges" CPU seconds so far (each control plane is one process)
cpu_all() {
	printf '%s %s %s\n' "$(op_cpu)" "$(pid_cpu "$(cat "$E2E_DIR/hub/pid")")" \
		"$(awk -v a="$(pid_cpu "$(cat "$E2E_DIR/edge1/pid")")" -v b="$(pid_cpu "$(cat "$E2E_DIR/edge2/pid")")" 'BEGIN { printf "%.2f", a + b }')"
}
op_mem() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$(op_pid)/status"; } # kB
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$1"; }
# metric FILE NAME [LABEL-REGEX]: sum of the samples of NAME whose labels match
metric() {
	awk -v n="$2" -v re="${3:-}" '
		$1 ~ /^#/ { next }
		{ name = $1; sub(/\{.*/, "", name); if (name != n) next
		  if (re != "" && $1 !~ re) next; s += $2 }
		END { printf "%d", s }' "$1"
}

# --- setup --------------------------------------------------------------------------
log "building kclient-operator and kubectl-patch_status"
{ cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja && cmake --build "$BUILD_DIR" --target kclient-operator kubectl-patch_status; } \
	>"$E2E_DIR/build.log" 2>&1 || { tail -n 30 "$E2E_DIR/build.log" >&2; die "build failed"; }
BUILD_TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BUILD_DIR/CMakeCache.txt")
[[ $BUILD_TYPE == Debug || -z $BUILD_TYPE ]] &&
	log "note: $BUILD_DIR is a ${BUILD_TYPE:-unoptimised} build: CPU numbers are not representative (BUILD_DIR=/tmp/kc-rel for an optimised one)"
log "starting hub, edge1, edge2 in $E2E_DIR"
pids=()
for c in hub "${EDGES[@]}"; do
	cluster_up "$c" >"$E2E_DIR/$c.up.log" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat "$E2E_DIR"/*.up.log >&2; die "a cluster did not start"; }; done
for e in "${EDGES[@]}"; do register_member "$e" "${REGION[$e]}"; done
op_alive() { kill -0 "$(op_pid)" 2>/dev/null; }
op_ready() { op_alive && curl -sf "http://127.0.0.1:$PROBE_PORT/readyz" >/dev/null; }
op_settled() { op_ready || ! op_alive || grep -q "cannot serve HTTP" "$E2E_DIR/operator.log"; }
for attempt in 1 2 3; do
	PROBE_PORT=$(free_port)
	METRICS_PORT=$(free_port)
	log "starting kclient-operator ${OP_FLAGS[*]} (metrics on 127.0.0.1:$METRICS_PORT)"
	operator_start operator --v 1 --health-probe-bind-address "127.0.0.1:$PROBE_PORT" \
		--metrics-bind-address "127.0.0.1:$METRICS_PORT" "${OP_FLAGS[@]}"
	wait_for 30 "operator /readyz" op_settled || break
	op_ready && break
	grep -q "cannot serve HTTP" "$E2E_DIR/operator.log" || break
	log "a port was taken meanwhile; again with others"
	operator_stop operator
done
op_ready || die "operator not ready"
mc_ready() {
	local e
	for e in "${EDGES[@]}"; do
		[[ $(hubctl get mc "$e" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] || return 1
	done
}
wait_for 60 "MemberClusters Ready" mc_ready || die "members not Ready"
hubctl create namespace "$NS" >/dev/null
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# start_watch UNTIL [ARGS]: fpg_watch.py in the background; returns once its watch is open
start_watch() {
	local until=$1
	shift
	python3 "$ROOT/bench/operator/fpg_watch.py" --cluster-dir "$E2E_DIR/hub" -n "$NS" --count "$N" \
		--until "$until" --timeout "$TIMEOUT" "$@" >"$E2E_DIR/watch-$until.out" 2>"$E2E_DIR/watch-$until.err" &
	WATCH_PID=$!
	wait_for 30 "fpg_watch ($until)" grep -qx watching "$E2E_DIR/watch-$until.out" ||
		{ cat "$E2E_DIR/watch-$until.err" >&2; die "fpg_watch did not start"; }
}
# end_watch UNTIL: wait for it (in this shell: it is our child); its JSON line goes to $WATCH_RESULT
end_watch() {
	local rc=0
	wait "$WATCH_PID" || rc=$?
	WATCH_PID=
	WATCH_RESULT=$(tail -n 1 "$E2E_DIR/watch-$1.out")
	return $rc
}
jf() { jq -r "$2" <<<"$1"; }

# --- phase 1: N FederatedPodGroups, applied on both edges ----------------------------
gen_fpgs() { # PART PARTS
	jq -n --arg ns "$NS" --argjson part "$1" --argjson parts "$2" --argjson n "$N" '{
		apiVersion: "v1", kind: "List",
		items: [range($part; $n; $parts) | {
			apiVersion: "federation.kclient.io/v1alpha1", kind: "FederatedPodGroup",
			metadata: {name: ("fpg-\(. | tostring | ("00000" + .)[-5:])"), namespace: $ns, labels: {app: "bench"}},
			spec: {
				placement: {clusterSelector: {matchExpressions: [{key: "region", operator: "In", values: ["guangzhou", "shenzhen"]}]}},
				template: {metadata: {labels: {app: "bench"}}, spec: {minMember: 3, scheduleTimeoutSeconds: 60}},
				overrides: [{clusterName: "edge2", patches: [{op: "replace", path: "/spec/minMember", value: 2}]}]}}]}'
}
PARTS=8
for ((p = 0; p < PARTS; p++)); do gen_fpgs "$p" "$PARTS" >"$E2E_DIR/fpgs-$p.json"; done
scrape "$E2E_DIR/m0.txt"
read -r cpu0 hcpu0 ecpu0 < <(cpu_all)
start_watch applied --placed 2
log "phase 1: creating $N FederatedPodGroups ($PARTS parallel kubectl apply --server-side)"
t1=$(now)
pids=()
for ((p = 0; p < PARTS; p++)); do
	timeout "$TIMEOUT" kubectl --kubeconfig "$E2E_DIR/hub/kubeconfig" apply --server-side \
		-f "$E2E_DIR/fpgs-$p.json" >/dev/null &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "kubectl apply failed"; done
t1_created=$(now)
log "phase 1: created in $(secs "$t1" "$t1_created")s; waiting until all are applied on 2 clusters"
end_watch applied || { echo "$WATCH_RESULT" >&2; die "phase 1 did not converge within ${TIMEOUT}s"; }
w1=$WATCH_RESULT
log "phase 1: all applied after $(secs "$t1" "$(jf "$w1" .done)")s"
# let the tail of the phase (member informer events, status echoes) settle
settle() {
	local a b
	a=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 ~ /^(controller_runtime_reconcile_total|kclient_status_writes_total)/ { s += $2 } END { print s }')
	while :; do
		sleep 1
		b=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 ~ /^(controller_runtime_reconcile_total|kclient_status_writes_total)/ { s += $2 } END { print s }')
		[[ $a == "$b" ]] && return
		a=$b
	done
}
timeout 60 bash -c "$(declare -f settle); METRICS_PORT=$METRICS_PORT settle" || log "phase 1: still busy after 60s"
scrape "$E2E_DIR/m1.txt"
read -r cpu1 hcpu1 ecpu1 < <(cpu_all)
members=0
for e in "${EDGES[@]}"; do
	c=$(edgectl "$e" get podgroups.scheduling.x-k8s.io -n "$NS" -l federation.kclient.io/managed-by=kclient-federation -o name | wc -l)
	log "phase 1: $e holds $c member PodGroups"
	members=$((members + c))
done
((members == 2 * N)) || die "expected $((2 * N)) member PodGroups, found $members"

# --- phase 2: a burst of 2N member status changes --------------------------------------
start_watch running --placed 2 --running $((2 * RUNNING_EACH))
log "phase 2: kubectl patch-status on both edges at once ($((2 * N)) member PodGroups -> Running)"
t2=$(now)
pids=()
for e in "${EDGES[@]}"; do
	timeout "$TIMEOUT" kubectl patch-status podgroups.scheduling.x-k8s.io -A -l federation.kclient.io/managed-by=kclient-federation \
		--kubeconfig "$E2E_DIR/$e/kubeconfig" --type merge \
		--patch "{\"status\":{\"phase\":\"Running\",\"running\":$RUNNING_EACH}}" \
		</dev/null >"$E2E_DIR/patch-$e.out" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[i]}" || { cat "$E2E_DIR/patch-${EDGES[i]}.out" >&2; die "kubectl patch-status failed on ${EDGES[i]}"; }
done
t2_patched=$(now)
for e in "${EDGES[@]}"; do sed "s/^/    $e: /" "$E2E_DIR/patch-$e.out" >&2; done
log "phase 2: member statuses written in $(secs "$t2" "$t2_patched")s; waiting for the hub's aggregates"
end_watch running || { echo "$WATCH_RESULT" >&2; die "phase 2 did not converge within ${TIMEOUT}s"; }
w2=$WATCH_RESULT
log "phase 2: all aggregated after $(secs "$t2" "$(jf "$w2" .done)")s"
timeout 60 bash -c "$(declare -f settle); METRICS_PORT=$METRICS_PORT settle" || log "phase 2: still busy after 60s"
scrape "$E2E_DIR/m2.txt"
read -r cpu2 hcpu2 ecpu2 < <(cpu_all)

# --- idle: nothing changes -------------------------------------------------------------
if ((IDLE > 0)); then
	log "idle: ${IDLE}s with no changes"
	sleep "$IDLE"
fi
scrape "$E2E_DIR/m3.txt"
read -r cpu3 hcpu3 ecpu3 < <(cpu_all)
hwm=$(op_mem VmHWM)
rss=$(op_mem VmRSS)
kill -0 "$(op_pid)" 2>/dev/null || die "the operator exited"
# a final check through kubectl: every FederatedPodGroup Running with 2 ready clusters
final=$(hubctl get fpg -n "$NS" -o json | jq -r --argjson r $((2 * RUNNING_EACH)) \
	'[.items[] | select(.status.phase == "Running" and .status.readyClusters == 2 and .status.running == $r)] | length')
((final == N)) || die "kubectl shows $final of $N FederatedPodGroups Running"
errs=$(grep -c -E 'status write failed|reconcile failed' "$E2E_DIR/operator.log" || true)
if ((errs > 0)); then
	log "$errs warnings in the operator log, e.g.:"
	grep -E 'status write failed|reconcile failed' "$E2E_DIR/operator.log" | head -n 3 >&2
fi

# --- report ------------------------------------------------------------------------------
d() { # SCRAPE-A SCRAPE-B NAME [LABEL-REGEX]: the counter's increase between two scrapes
	local a b
	a=$(metric "$E2E_DIR/$1.txt" "$3" "${4:-}")
	b=$(metric "$E2E_DIR/$2.txt" "$3" "${4:-}")
	echo $((b - a))
}
# row LABEL NAME [LABEL-REGEX]: one counter over the three phases
row3() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
row() { row3 "$1" "$(d m0 m1 "$2" "${3:-}")" "$(d m1 m2 "$2" "${3:-}")" "$(d m2 m3 "$2" "${3:-}")"; }
rec=controller_runtime_reconcile_total
HUB="host=\"https://127.0.0.1:$(cat "$E2E_DIR/hub/port")\""
MEMBERS="host=\"https://127.0.0.1:($(cat "$E2E_DIR/edge1/port")|$(cat "$E2E_DIR/edge2/port"))\""
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
apply_s=$(secs "$t1" "$(jf "$w1" .done)")
burst_s=$(secs "$t2" "$(jf "$w2" .done)")
{
	printf '\n#### %d FederatedPodGroups over 2 members, %s, kclient %s (%s build), load average before: %s\n\n' \
		"$N" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "${BUILD_TYPE:-?}" "$load_before"
	printf '| | apply: %d FPGs created | burst: %d member statuses | idle %d s |\n| --- | --- | --- | --- |\n' \
		"$N" "$((2 * N))" "$IDLE"
	row3 "client side done (kubectl apply / patch-status)" "$(secs "$t1" "$t1_created") s" "$(secs "$t2" "$t2_patched") s" ""
	row3 "first FPG converged" "$(secs "$t1" "$(jf "$w1" .first)") s" "$(secs "$t2" "$(jf "$w2" .first)") s" ""
	row3 "50 % converged" "$(secs "$t1" "$(jf "$w1" .p50)") s" "$(secs "$t2" "$(jf "$w2" .p50)") s" ""
	row3 "90 % converged" "$(secs "$t1" "$(jf "$w1" .p90)") s" "$(secs "$t2" "$(jf "$w2" .p90)") s" ""
	row3 "**all converged**" "**$apply_s s**" "**$burst_s s**" ""
	row3 "operator CPU" "$(secs "$cpu0" "$cpu1") s" "$(secs "$cpu1" "$cpu2") s" "$(secs "$cpu2" "$cpu3") s"
	row3 "hub control plane CPU (apiserver + etcd)" "$(secs "$hcpu0" "$hcpu1") s" "$(secs "$hcpu1" "$hcpu2") s" "$(secs "$hcpu2" "$hcpu3") s"
	row3 "edge control planes CPU (both)" "$(secs "$ecpu0" "$ecpu1") s" "$(secs "$ecpu1" "$ecpu2") s" "$(secs "$ecpu2" "$ecpu3") s"
	row "reconciles (success)" $rec 'result="success"'
	row "reconciles (error)" $rec 'result="error"'
	row "work queue adds" workqueue_adds_total
	row "work queue delayed adds (\`workqueue_retries_total\`)" workqueue_retries_total
	row "member PodGroup applies" kclient_member_writes_total 'verb="apply"'
	row "member requests (all)" rest_client_requests_total "$MEMBERS"
	row "hub status writes" kclient_status_writes_total
	row "hub status batches (PatchStatusAll runs)" kclient_status_batches_total
	row "hub requests (all)" rest_client_requests_total "$HUB"
	row3 "hub requests per second of the phase" \
		"$(awk -v n="$(d m0 m1 rest_client_requests_total "$HUB")" -v t="$apply_s" 'BEGIN { printf "%.0f", n / t }')" \
		"$(awk -v n="$(d m1 m2 rest_client_requests_total "$HUB")" -v t="$burst_s" 'BEGIN { printf "%.0f", n / t }')" ""
	row "hub requests answered 409" rest_client_requests_total "$HUB.*code=\"409\"|code=\"409\".*$HUB"
	row "requests answered 429 / 5xx (all clusters)" rest_client_requests_total 'code="(429|5[0-9][0-9])"'
	printf '\nOperator at the end: peak RSS (VmHWM) %s MiB, RSS %s MiB, CPU %s s in all (start-up included). ' \
		"$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$cpu3"
	printf 'Warnings in its log ("status write failed", "reconcile failed"): %s. Watch events seen by fpg_watch: %s (apply), %s (burst).\n' \
		"$errs" "$(jf "$w1" .events)" "$(jf "$w2" .events)"
} | tee "$E2E_DIR/report.md"
jq -nc --arg date "$(date -u +%FT%TZ)" --arg commit "$commit" --arg build "${BUILD_TYPE:-}" --argjson n "$N" \
	--argjson apply "$apply_s" --argjson burst "$burst_s" \
	--argjson cpu_apply "$(secs "$cpu0" "$cpu1")" --argjson cpu_burst "$(secs "$cpu1" "$cpu2")" \
	--argjson cpu_idle "$(secs "$cpu2" "$cpu3")" --argjson idle "$IDLE" \
	--argjson hwm_kib "$hwm" --argjson rss_kib "$rss" \
	--argjson batches "$(d m1 m2 kclient_status_batches_total)" --argjson writes "$(d m1 m2 kclient_status_writes_total)" \
	--argjson reconciles_burst "$(d m1 m2 $rec 'result="success"')" --argjson reconciles_idle "$(d m2 m3 $rec 'result="success"')" \
	'{bench: "operator", date: $date, commit: $commit, build: $build, n: $n, apply_s: $apply, burst_s: $burst,
	  cpu_apply_s: $cpu_apply, cpu_burst_s: $cpu_burst, idle_s: $idle, cpu_idle_s: $cpu_idle,
	  vmhwm_kib: $hwm_kib, vmrss_kib: $rss_kib, burst_status_batches: $batches, burst_status_writes: $writes,
	  burst_reconciles: $reconciles_burst, idle_reconciles: $reconciles_idle}' >>"$OUT"
log "done; JSON line appended to $OUT"
