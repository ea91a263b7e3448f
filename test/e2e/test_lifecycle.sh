#!/usr/bin/env bash
# End to end: the member lifecycle, deletion and status contract of
# docs/member-lifecycle.md, against real control planes (a hub, edge1 direct,
# edge2 behind the TCP fault proxy) and one operator replica run with the hub
# admin kubeconfig.  One set of clusters serves every scenario; each scenario
# works in its own namespace (s1 ... s10) and asserts its own preconditions.
# Each numbered scenario is a user report against an earlier operator.
#
# Probe settings (lib.sh's register_member): periodSeconds 2, timeoutSeconds 1,
# failureThreshold 2, unreachableGraceSeconds 4.
#
#   BUILD_DIR=/path/to/build bash test/e2e/test_lifecycle.sh
#   KEEP_E2E_DIR=1 keeps the work directory (operator log: $E2E_DIR/op.log).
set -uo pipefail
export E2E_DIR=${E2E_DIR:-$(mktemp -d /tmp/kc-life.XXXXXX)}
source "$(dirname "$0")/lib.sh"

t_start=$SECONDS
passed=0 failed=0 why="" note=""
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
# check DESCRIPTION COMMAND...: COMMAND must succeed now (a function may set
# $why, shown on failure, and $note, shown on success)
check() {
	local what=$1
	shift
	why="" note=""
	if "$@" >/dev/null 2>&1; then ok "$what${note:+ ($note)}"; else bad "$what${why:+ [$why]}"; fi
}
# eventually SECONDS DESCRIPTION COMMAND...: COMMAND must succeed within SECONDS
eventually() {
	local secs=$1 what=$2
	shift 2
	why="" note=""
	if wait_for "$secs" "$what" "$@" 2>/dev/null; then ok "$what${note:+ ($note)}"; else bad "$what${why:+ [$why]}"; fi
}
# need SECONDS DESCRIPTION COMMAND...: a precondition; reported only when it fails
need() {
	local secs=$1 what=$2
	shift 2
	why=""
	wait_for "$secs" "$what" "$@" 2>/dev/null && return 0
	bad "precondition: $what${why:+ [$why]}"
	return 1
}

# jt FILTER...: jq -e on stdin that also fails on empty input (jq 1.6 exits 0
# when there is no input at all, e.g. when curl got no answer)
jt() {
	local in
	in=$(cat)
	[ -n "$in" ] || return 1
	jq -e "$@" >/dev/null <<<"$in"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; } # A - B
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# Reads straight from the API servers (curl, admin token): fast enough to poll.
api() { # CLUSTER PATH
	curl -s --max-time 5 --cacert "$E2E_DIR/$1/ca.crt" -H "Authorization: Bearer $(cat "$E2E_DIR/$1/admin.token")" \
		"https://127.0.0.1:$(cat "$E2E_DIR/$1/port")$2"
}
FED=/apis/federation.kclient.io/v1alpha1
SP=/apis/scheduling.x-k8s.io/v1alpha1   # podgroups.scheduling.x-k8s.io
VC=/apis/scheduling.volcano.sh/v1beta1  # podgroups.scheduling.volcano.sh
mcj() { api hub "$FED/memberclusters/$1"; }
fpgj() { api hub "$FED/namespaces/$1/federatedpodgroups/$2"; }
pgj() { # EDGE sp|vc NS NAME: a member copy, read from the member directly (never through the proxy)
	local g=$SP
	[ "$2" = vc ] && g=$VC
	api "$1" "$g/namespaces/$3/podgroups/$4"
}
is_obj() { jt '.metadata.uid != null' >/dev/null; }
is_404() { jt '.kind == "Status" and .code == 404' >/dev/null; }
copy_exists() { pgj "$@" | is_obj; }
copy_gone() { pgj "$@" | is_404; }
copy_uid() { pgj "$@" | jq -r '.metadata.uid // empty'; }
fpg_gone() { fpgj "$1" "$2" | is_404; }
mc_gone() { mcj "$1" | is_404; }
mc_cond() { mcj "$1" | jq -c --arg t "$2" '.status.conditions[]? | select(.type == $t)'; } # NAME TYPE
mc_ready() { [ "$(mc_cond "$1" Ready | jq -r .status)" = "$2" ]; }
# status.clusters[] entry of CLUSTER
entry() { fpgj "$1" "$2" | jq -c --arg c "$3" '.status.clusters[]? | select(.clusterName == $c)'; } # NS NAME CLUSTER
applied_false() { # NS NAME: the Applied condition is False
	local c
	c=$(fpgj "$1" "$2" | jq -c '.status.conditions[]? | select(.type == "Applied")')
	[ "$(jq -r .status <<<"$c")" = False ] || { why="Applied: $c"; return 1; }
}
# the four labels that tie a copy to the hub (docs/member-lifecycle.md, "Names used on member copies")
FOUR_LABELS='[.metadata.labels // {} | to_entries[] | select(.key == "federation.kclient.io/managed-by" or .key == "federation.kclient.io/fpg-namespace" or .key == "federation.kclient.io/fpg-name" or .key == "federation.kclient.io/cluster")] | length'

LOG=$E2E_DIR/op.log
log_mark() { wc -l <"$LOG"; }
log_since() { tail -n +$(($1 + 1)) "$LOG"; }
# lines at ERROR, WARN or INFO: what the default verbosity shows
log_default_level() { awk '$2 == "ERROR" || $2 == "WARN" || $2 == "INFO"'; }
log_warn() { awk '$2 == "ERROR" || $2 == "WARN"'; }

# fpg_apply NS NAME POLICY PLACEMENT [MINMEMBER] [OVERRIDES]
fpg_apply() {
	hubctl apply -f - >/dev/null <<YAML
apiVersion: federation.kclient.io/v1alpha1
kind: FederatedPodGroup
metadata: {name: $2, namespace: $1}
spec:
  placement: $4
  template: {spec: {minMember: ${5:-2}}}
  overrides: ${6:-[]}
  deletionPolicy: $3
YAML
}
namespaces() { # NS: on the hub and on both edges (scenario 10 makes one the edges lack)
	hubctl create namespace "$1" >/dev/null
	edgectl edge1 create namespace "$1" >/dev/null
	edgectl edge2 create namespace "$1" >/dev/null
}
# A MemberCluster removed at the end of a scenario, whatever the operator
# does with it: its finalizer is dropped if it lingers (test clean-up only).
mc_remove() {
	local n
	for n in "$@"; do hubctl delete membercluster "$n" --wait=false >/dev/null 2>&1; done
	for n in "$@"; do
		wait_for 5 "$n gone" mc_gone "$n" ||
			hubctl patch membercluster "$n" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1
	done
}

# the fault proxy must take the order, else the scenario's fault did not happen
pctl() { proxy "$1" || bad "precondition: the fault proxy did not take $1"; }
# The operator and the proxy must outlive every scenario: a run where either
# died under us says nothing about the contract.
alive() {
	local pid
	pid=$(cat "$E2E_DIR/op.pid" 2>/dev/null)
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
		bad "the operator exited during the run (killed from outside, or crashed); stopping"
		exit 1
	fi
	if ! kill -0 "$proxy_pid" 2>/dev/null; then
		bad "the fault proxy exited during the run (killed from outside?); stopping"
		exit 1
	fi
}
proxy_pid="" watch_pid=""
cleanup() {
	operator_stop op KILL >/dev/null 2>&1
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
	for c in hub edge1 edge2; do cluster_down "$c"; done
	if [ "$failed" != 0 ]; then
		echo "--- operator log (tail)"
		tail -60 "$LOG" 2>/dev/null
	fi
	if [ "${KEEP_E2E_DIR:-0}" = 1 ]; then echo "kept $E2E_DIR"; else rm -rf "$E2E_DIR"; fi
}
trap cleanup EXIT

say "starting hub, edge1, edge2 (edge2 behind the fault proxy)"
for c in hub edge1 edge2; do cluster_up "$c" & done
wait
proxy_up edge2 || exit 1
register_member edge1 guangzhou
register_member edge2 shenzhen "$E2E_DIR/edge2-via-proxy.kubeconfig"
metrics_port=$(free_port)
probe_port=$(free_port)
operator_start op -v 2 --status-batch-interval 50ms \
	--metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address "127.0.0.1:$probe_port"
need 30 "edge1 Ready=True" mc_ready edge1 True || exit 1
need 30 "edge2 Ready=True (through the proxy)" mc_ready edge2 True || exit 1

# --------------------------------------------------------------------------
alive
say "7. spec problems are visible per cluster"
namespaces s7
mark7=$(log_mark)
t7=$SECONDS
fpg_apply s7 s7-nf Delete '{clusterNames: [edge1, nosuch]}'
fpg_apply s7 s7-422 Delete '{clusterNames: [edge1]}' 2 \
	'[{clusterName: edge1, patches: [{op: replace, path: /spec/minMember, value: 0}]}]'
fpg_apply s7 s7-500 Delete '{clusterNames: [edge1]}' 2 \
	'[{clusterName: edge1, patches: [{op: replace, path: /spec/minMember, value: "abc"}]}]'
fpg_apply s7 s7-ovr Delete '{clusterNames: [edge1]}' 2 \
	'[{clusterName: edge1, patches: [{op: add, path: /spec/minMember/x, value: 1}]}]'
s7_created() { local n; for n in s7-nf s7-422 s7-500 s7-ovr; do fpgj s7 $n | is_obj || { why="hub refused $n"; return 1; }; done; }
need 5 "the four s7 objects were accepted by the hub" s7_created
not_found_entry() {
	copy_exists edge1 sp s7 s7-nf || { why="precondition: the copy on edge1 was not applied"; return 1; }
	local e
	e=$(entry s7 s7-nf nosuch)
	[ "$(jq -r .reason <<<"$e")" = ClusterNotFound ] && [ "$(jq -r .applied <<<"$e")" != true ] ||
		{ why="entry for nosuch: ${e:-none}"; return 1; }
	applied_false s7 s7-nf
}
eventually 15 "7: placement naming a missing cluster: entry with reason ClusterNotFound, Applied=False (not 'applied on 1 of 1')" not_found_entry
apply_failed_entry() { # NAME PATTERN: edge1's entry says ApplyFailed with the server's message
	local e
	e=$(entry s7 "$1" edge1)
	[ "$(jq -r .reason <<<"$e")" = ApplyFailed ] && [ "$(jq -r .applied <<<"$e")" != true ] &&
		jt --arg p "$2" '.message | test($p)' <<<"$e" || { why="edge1 entry: ${e:-none}"; return 1; }
	applied_false s7 "$1"
}
# the scheduler-plugins schema has minimum 1: HTTP 422 "should be greater than or equal to 1"
eventually 15 "7: an override the member rejects (minMember 0, HTTP 422): reason ApplyFailed with the server's message, Applied=False" \
	apply_failed_entry s7-422 '422.*spec.minMember|spec.minMember.*422'
# a string for an integer: kube-apiserver 1.34's server-side apply answers 500
# "failed to create typed patch object ... expected numeric" (not 422)
eventually 20 "7: an override of the wrong type (minMember \"abc\", HTTP 500 from apply): reason ApplyFailed with the server's message, Applied=False" \
	apply_failed_entry s7-500 'expected numeric'
override_failed_entry() {
	local e
	e=$(entry s7 s7-ovr edge1)
	[ "$(jq -r .reason <<<"$e")" = OverrideFailed ] && [ "$(jq -r .applied <<<"$e")" != true ] ||
		{ why="edge1 entry: ${e:-none}"; return 1; }
	applied_false s7 s7-ovr
}
eventually 15 "7: an override path that cannot apply (add below a scalar): reason OverrideFailed, Applied=False" override_failed_entry
check "7: OverrideFailed: nothing is applied on edge1" copy_gone edge1 sp s7 s7-ovr
check "7: kubectl wait --for=condition=Applied=False works" \
	hubctl -n s7 wait --for=condition=Applied=False fpg/s7-nf fpg/s7-422 fpg/s7-500 fpg/s7-ovr --timeout=10s
sleep $((t7 + 12 - SECONDS > 0 ? t7 + 12 - SECONDS : 0))
warn_counts() {
	local n c out="" worst=0
	for n in s7-422 s7-500 s7-ovr s7-nf; do
		c=$(log_since "$mark7" | log_warn | grep -c -- "$n")
		out="$out $n:$c"
		[ "$c" -gt "$worst" ] && worst=$c
	done
	why="WARN/ERROR lines in 12 s:$out"
	[ "$worst" -le 2 ]
}
check "7: the log does not repeat a warning for the same object (at most 2 lines each over 12 s)" warn_counts
hubctl -n s7 delete fpg --all --wait=false >/dev/null

# --------------------------------------------------------------------------
alive
say "6. status truth while edge2 is black-holed"
namespaces s6
fpg_apply s6 s6-pg Delete '{clusterNames: [edge1, edge2]}' 2
need 20 "s6 copy on edge1" copy_exists edge1 sp s6 s6-pg
need 20 "s6 copy on edge2" copy_exists edge2 sp s6 s6-pg
edgectl edge1 -n s6 patch podgroups.scheduling.x-k8s.io s6-pg --subresource=status --type merge -p '{"status":{"phase":"Running","running":3}}' >/dev/null
edgectl edge2 -n s6 patch podgroups.scheduling.x-k8s.io s6-pg --subresource=status --type merge -p '{"status":{"phase":"Running","running":4}}' >/dev/null
s6_before() {
	fpgj s6 s6-pg | jt '.status.running == 7 and ([.status.clusters[]? | select(.stale != true and .applied == true and .appliedGeneration == 1 and .memberPhase == "Running")] | length == 2)'
}
need 20 "hub status: both entries Running, applied generation 1, running 3+4" s6_before
need 5 "edge2 Ready=True before the blackhole" mc_ready edge2 True
t0=$(now)
pctl "mode?set=blackhole"
sleep 0.5
fpg_apply s6 s6-pg Delete '{clusterNames: [edge1, edge2]}' 3 # generation 2, made during the outage
sleep 1
edgectl edge1 -n s6 patch podgroups.scheduling.x-k8s.io s6-pg --subresource=status --type merge -p '{"status":{"running":5}}' >/dev/null
t_patch=$(now)
t_unk="" t_stale="" t_st=""
end=$((SECONDS + 25))
while ((SECONDS < end)); do
	[ -z "$t_unk" ] && mc_ready edge2 Unknown && t_unk=$(now)
	j=$(fpgj s6 s6-pg)
	[ -z "$t_stale" ] && jt '.status.clusters[]? | select(.clusterName == "edge2") | .stale == true' <<<"$j" >/dev/null && t_stale=$(now)
	[ -z "$t_st" ] && jt '.status.clusters[]? | select(.clusterName == "edge1") | .running == 5' <<<"$j" >/dev/null && t_st=$(now)
	[ -n "$t_unk" ] && [ -n "$t_stale" ] && [ -n "$t_st" ] && break
	sleep 0.1
done
# docs/member-lifecycle.md ("Ready ⇄ Unreachable"): from the moment the link
# dies, Ready=Unknown is set within
#   max(failureThreshold × periodSeconds, unreachableGraceSeconds + periodSeconds) × 1.1 + timeoutSeconds
#   = max(2 × 2, 4 + 2) × 1.1 + 1 = 7.6 s,
# plus 1.5 s for the MemberCluster status write: 9.1 s.
bound=$(awk 'BEGIN { a = 2 * 2; b = 4 + 2; printf "%.2f", (a > b ? a : b) * 1.1 + 1 + 1.5 }')
detect() {
	[ -n "$t_unk" ] || { why="never Ready=Unknown"; return 1; }
	why="$(diff_s "$t_unk" "$t0") s (bound $bound s)" note=$why
	le "$(diff_s "$t_unk" "$t0")" "$bound"
}
check "6: Ready=Unknown at most 7.6 s + 1.5 s after the blackhole" detect
stale_soon() {
	[ -n "$t_unk" ] && [ -n "$t_stale" ] || { why="Ready=Unknown at ${t_unk:-never}, stale at ${t_stale:-never}"; return 1; }
	why="stale $(diff_s "$t_stale" "$t_unk") s after Ready=Unknown" note=$why
	le "$(diff_s "$t_stale" "$t_unk")" 1.5
}
check "6: edge2's entry is stale:true at the latest 1.5 s after Ready=Unknown" stale_soon
last_known() {
	local e
	e=$(entry s6 s6-pg edge2)
	why="edge2 entry: $e"
	jt '.stale == true and .memberPhase == "Running" and .running == 4' <<<"$e"
}
check "6: edge2's entry keeps its last-known memberPhase Running and running 4" last_known
totals_kept() {
	local j
	j=$(fpgj s6 s6-pg)
	why="running $(jq -c '[.status.running, [.status.clusters[]? | {clusterName, running, stale}]]' <<<"$j")"
	jt '.status.running == 9 and (.status.clusters[] | select(.clusterName == "edge1") | .running == 5)' <<<"$j"
}
check "6: the hub totals keep edge2's last values (running 5 + 4)" totals_kept
status_fast() {
	[ -n "$t_st" ] || { why="edge1's running 5 never reached the hub"; return 1; }
	why="$(diff_s "$t_st" "$t_patch") s" note=$why
	le "$(diff_s "$t_st" "$t_patch")" 3
}
check "6: while edge2 is black-holed, a status change on edge1's copy reaches the hub within 3 s" status_fast
healthy_gen2() {
	[ "$(fpgj s6 s6-pg | jq -r .metadata.generation)" = 2 ] || { why="precondition: hub generation is not 2"; return 1; }
	[ "$(pgj edge1 sp s6 s6-pg | jq -r .spec.minMember)" = 3 ] || { why="edge1 copy minMember not 3"; return 1; }
	entry s6 s6-pg edge1 | jt '.applied == true and .appliedGeneration == 2'
}
eventually 10 "6: the healthy member gets the outage's spec change (applied, appliedGeneration 2)" healthy_gen2
unreachable_not_applied() {
	healthy_gen2 || { why="precondition: ${why:-edge1 does not report generation 2}"; return 1; }
	local e
	e=$(entry s6 s6-pg edge2)
	jt '.applied != true and (.appliedGeneration // 0) != 2' <<<"$e" || { why="edge2 entry: $e"; return 1; }
	applied_false s6 s6-pg
}
check "6: the unreachable member does not report applied / appliedGeneration 2, Applied=False" unreachable_not_applied
no_resolve() {
	local c
	c=$(mc_cond edge2 Ready)
	why="Ready: $c"
	[ "$(jq -r .status <<<"$c")" = Unknown ] && ! jq -r .message <<<"$c" | grep -qi resolv
}
check "6: the Ready message names a real cause (no \"resolve\")" no_resolve
pctl "mode?set=pass"
need 20 "edge2 Ready=True again" mc_ready edge2 True
hubctl -n s6 delete fpg --all --wait=false >/dev/null

# --------------------------------------------------------------------------
alive
say "5. broken and unreachable members do not hold up a deletion"
namespaces s5
printf 'hello: world\n' >"$E2E_DIR/garbage.kubeconfig"
kubeconfig_via edge1 "https://127.0.0.1:$(free_port)" >"$E2E_DIR/dead.kubeconfig" # nothing listens there
register_member garb nowhere "$E2E_DIR/garbage.kubeconfig"
register_member dead1 nowhere "$E2E_DIR/dead.kubeconfig"
t_dead=$SECONDS
hubctl -n default create secret generic member-wrongns --from-file=kubeconfig="$E2E_DIR/edge1/kubeconfig" >/dev/null
hubctl apply -f - >/dev/null <<YAML
apiVersion: federation.kclient.io/v1alpha1
kind: MemberCluster
metadata: {name: nokey, labels: {region: nowhere}}
spec:
  kubeconfigSecretRef: {namespace: kclient-system, name: member-edge1, key: nosuchkey}
  healthCheck: {periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2}
  unreachableGraceSeconds: 4
---
apiVersion: federation.kclient.io/v1alpha1
kind: MemberCluster
metadata: {name: wrongns, labels: {region: nowhere}}
spec:
  kubeconfigSecretRef: {namespace: default, name: member-wrongns}
  healthCheck: {periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2}
  unreachableGraceSeconds: 4
YAML
fpg_apply s5 s5-pg Delete '{clusterNames: [edge1]}'
need 20 "s5 copy on edge1" copy_exists edge1 sp s5 s5-pg
need 10 "nokey Ready=False" mc_ready nokey False
need 10 "garb Ready=False" mc_ready garb False
need 15 "dead1 Ready=Unknown" mc_ready dead1 Unknown
sleep $((t_dead + 8 - SECONDS > 0 ? t_dead + 8 - SECONDS : 0)) # dead1 past the detection bound
s5_held() { fpgj s5 s5-pg | jt '.metadata.finalizers | index("federation.kclient.io/cleanup")'; }
need 5 "s5-pg carries the cleanup finalizer" s5_held
hubctl -n s5 delete fpg s5-pg --wait=false >/dev/null
s5_done() {
	fpg_gone s5 s5-pg || { why="still there: $(fpgj s5 s5-pg | jq -c '[.metadata.finalizers, [.status.conditions[]? | select(.type == "Deleting")]]')"; return 1; }
	copy_gone edge1 sp s5 s5-pg
}
eventually 5 "5: deleting an object placed only on a healthy member completes at once (broken and unreachable members around)" s5_done

alive
say "10. messages"
wrongns_msg() {
	local c
	c=$(mc_cond wrongns Ready)
	why="Ready: $c"
	jt '.status == "False" and .reason == "KubeconfigSecretNamespace" and (.message | test("kclient-system")) and (.message | test("not found") | not)' <<<"$c"
}
eventually 5 "10: a Secret outside the operator's namespace: reason KubeconfigSecretNamespace, the message names kclient-system, not 'not found'" wrongns_msg
garbage_msg() {
	local c
	c=$(mc_cond garb Ready)
	why="Ready: $c"
	jt '.status == "False" and .reason == "KubeconfigInvalid" and (.message | test("--context") | not)' <<<"$c"
}
check "10: a garbage kubeconfig's message does not mention --context" garbage_msg
mark10=$(log_mark)
hubctl create namespace s10new >/dev/null # the edges do not have it
fpg_apply s10new s10-pg Delete '{clusterNames: [edge1]}'
eventually 15 "10: a first placement into a namespace the member lacks creates it" copy_exists edge1 sp s10new s10-pg
no_ns_warning() {
	local w
	w=$(log_since "$mark10" | log_warn | grep -E 's10new|namespace not found|namespaces "[^"]*" not found')
	why="$w"
	[ -z "$w" ]
}
check "10: ... and logs no WARN about the namespace not found" no_ns_warning
dead_logged() {
	grep 'cluster=dead1' "$LOG" | log_default_level | grep -Eiq 'unreachable|Unknown|no contact|refused|connect'
}
eventually 5 "10: a member that has never been reachable is logged at the default level" dead_logged
never_joined_gone() {
	local n
	for n in nokey garb dead1 wrongns; do mc_gone "$n" || { why="$n still there"; return 1; }; done
}
for n in nokey garb dead1 wrongns; do hubctl delete membercluster "$n" --wait=false >/dev/null; done
eventually 5 "5: MemberClusters that never joined are let go at once" never_joined_gone
mc_remove nokey garb dead1 wrongns
hubctl -n s10new delete fpg --all --wait=false >/dev/null

alive
say "9. parked work returns at once"
namespaces s9
fpg_apply s9 s9-pg Delete '{clusterNames: [edge1, edge2]}'
need 20 "s9 copy on edge2" copy_exists edge2 sp s9 s9-pg
pctl "mode?set=cut"
need 15 "edge2 Ready=Unknown after the cut" mc_ready edge2 Unknown
hubctl -n s9 delete fpg s9-pg --wait=false >/dev/null
t9=$SECONDS
waiting_for_edge2() {
	local j c
	j=$(fpgj s9 s9-pg)
	jt '.metadata.deletionTimestamp != null' <<<"$j" >/dev/null || { why="not deleting (or gone): $(jq -c .metadata <<<"$j")"; return 1; }
	c=$(jq -c '.status.conditions[]? | select(.type == "Deleting")' <<<"$j")
	why="Deleting: ${c:-none}"
	jt '.status == "True" and .reason == "WaitingForMembers" and (.message | test("edge2"))' <<<"$c"
}
eventually 10 "9: the finalizer waits for edge2: Deleting=True reason WaitingForMembers naming edge2" waiting_for_edge2
check "9: the copy on the cut member is still there" copy_exists edge2 sp s9 s9-pg

# ~30 s of quiet outage since the delete (no MemberCluster or hub object
# changes that would send every object round again), so backoffs grow
mark9=$(log_mark)
sleep $((t9 + 30 - SECONDS > 0 ? t9 + 30 - SECONDS : 0))
fpgj s9 s9-pg | is_obj || bad "precondition: s9-pg still waiting after 30 s"
# docs/member-lifecycle.md, Isolation: "A warning about the same object and
# cluster is logged once per distinct error, not every retry" - the member's
# own probe failures included (a cut answers refused or reset in turn).
once_per_error() {
	local lines distinct
	lines=$(log_since "$mark9" | log_warn | grep -F 'cluster=edge2' | sed -E 's/^[^ ]+ +//')
	distinct=$(sort -u <<<"$lines" | grep -c .)
	why="$(grep -c . <<<"$lines") WARN lines about edge2 in 30 s, $distinct distinct: $(sort <<<"$lines" | uniq -c | sort -rn | head -3 | cut -c1-160 | tr '\n' ';')"
	[ "$(grep -c . <<<"$lines")" = "$distinct" ]
}
check "9: over the 30 s outage each distinct warning about edge2 is logged once, not every probe" once_per_error
pctl "mode?set=pass"
t_ready=""
end=$((SECONDS + 20))
while ((SECONDS < end)); do
	mc_ready edge2 True && { t_ready=$(now); break; }
	sleep 0.2
done
parked_done() {
	[ -n "$t_ready" ] || { why="edge2 never Ready=True"; return 1; }
	local t_done=""
	while le "$(diff_s "$(now)" "$t_ready")" 8; do
		if fpg_gone s9 s9-pg && copy_gone edge2 sp s9 s9-pg; then
			t_done=$(now)
			break
		fi
		sleep 0.2
	done
	[ -n "$t_done" ] || { why="after 8 s: fpg $(fpgj s9 s9-pg | jq -r '.metadata.name // "gone"'), copy $(copy_exists edge2 sp s9 s9-pg && echo present || echo gone)"; return 1; }
	note="$(diff_s "$t_done" "$t_ready") s after Ready=True"
}
check "9: after 30 s cut, the copy is removed and the object gone within 8 s of edge2's Ready=True" parked_done

# --------------------------------------------------------------------------
alive
say "1. removing a reachable MemberCluster"
namespaces s1
# s1-del and s1-orph select edge2 by label: once it has left, they place
# nothing there.  s1-named names edge2: once its MemberCluster is gone, that
# is "a placement name with no MemberCluster" (reason ClusterNotFound).
BOTH_REGIONS='{clusterSelector: {matchExpressions: [{key: region, operator: In, values: [guangzhou, shenzhen]}]}}'
fpg_apply s1 s1-del Delete "$BOTH_REGIONS"
fpg_apply s1 s1-orph Orphan "$BOTH_REGIONS"
fpg_apply s1 s1-named Delete '{clusterNames: [edge1, edge2]}'
need 20 "s1-del copy on edge2" copy_exists edge2 sp s1 s1-del
need 20 "s1-orph copy on edge2" copy_exists edge2 sp s1 s1-orph
need 20 "s1-named copy on edge2" copy_exists edge2 sp s1 s1-named
lists_edge2() { # NS NAME...: each lists edge2 in status.clusters
	local ns=$1 n
	shift
	for n in "$@"; do fpgj "$ns" "$n" | jt '[.status.clusters[]? | select(.clusterName == "edge2")] | length > 0' >/dev/null || return 1; done
}
need 20 "the three s1 objects list edge2 in status.clusters" lists_edge2 s1 s1-del s1-orph s1-named
mc_finalizer() { mcj "$1" | jt '.metadata.finalizers // [] | index("federation.kclient.io/member-cleanup")'; }
eventually 10 "1: the MemberCluster carries the finalizer federation.kclient.io/member-cleanup" mc_finalizer edge2
uid_orph=$(copy_uid edge2 sp s1 s1-orph)
uids_e1="$(copy_uid edge1 sp s1 s1-del) $(copy_uid edge1 sp s1 s1-orph) $(copy_uid edge1 sp s1 s1-named)"
hubctl delete membercluster edge2 --wait=false >/dev/null || bad "precondition: kubectl delete membercluster edge2"
del_copies_gone() { copy_gone edge2 sp s1 s1-del && copy_gone edge2 sp s1 s1-named; }
eventually 15 "1: the Delete-policy copies are deleted from edge2" del_copies_gone
orphan_released() { # EDGE NS NAME UID
	local j
	j=$(pgj "$1" sp "$2" "$3")
	why="copy: $(jq -c '{uid: .metadata.uid, labels: .metadata.labels}' <<<"$j") (uid before: $4)"
	[ -n "$4" ] && jt --arg u "$4" ".metadata.uid == \$u and ($FOUR_LABELS) == 0" <<<"$j"
}
eventually 15 "1: the Orphan-policy copy stays (same uid) without the four federation.kclient.io labels" orphan_released edge2 s1 s1-orph "$uid_orph"
eventually 15 "1: the MemberCluster then disappears" mc_gone edge2
no_edge2_entries() {
	why="s1-del: $(entry s1 s1-del edge2), s1-orph: $(entry s1 s1-orph edge2)"
	! lists_edge2 s1 s1-del && ! lists_edge2 s1 s1-orph
}
eventually 10 "1: the objects that selected edge2 no longer list it in status.clusters" no_edge2_entries
named_not_found() {
	local e
	e=$(entry s1 s1-named edge2)
	why="s1-named's edge2 entry: ${e:-none}"
	jt '.reason == "ClusterNotFound" and .applied != true' <<<"$e"
}
eventually 10 "1: the object naming edge2 reports it ClusterNotFound" named_not_found
check "1: edge1's copies untouched (same uids)" sh -c "[ \"\$1\" = \"\$2\" ]" _ "$uids_e1" \
	"$(copy_uid edge1 sp s1 s1-del) $(copy_uid edge1 sp s1 s1-orph) $(copy_uid edge1 sp s1 s1-named)"
hubctl -n s1 delete fpg --all --wait=false >/dev/null

# --------------------------------------------------------------------------
alive
say "2. removing an unreachable MemberCluster"
mc_remove edge2 # in case scenario 1 left it behind
register_member edge2 shenzhen "$E2E_DIR/edge2-via-proxy.kubeconfig"
need 20 "edge2 registered again, Ready=True" mc_ready edge2 True
hubctl create namespace s2 >/dev/null
edgectl edge1 create namespace s2 >/dev/null
edgectl edge2 create namespace s2 >/dev/null
fpg_apply s2 s2-del Delete '{clusterNames: [edge1, edge2]}'
fpg_apply s2 s2-orph Orphan '{clusterNames: [edge1, edge2]}'
need 20 "s2-del copy on edge2" copy_exists edge2 sp s2 s2-del
need 20 "s2-orph copy on edge2" copy_exists edge2 sp s2 s2-orph
snap() { pgj edge2 sp s2 "$1" | jq -c '{uid: .metadata.uid, rv: .metadata.resourceVersion, labels: .metadata.labels}'; }
snap_del=$(snap s2-del)
snap_orph=$(snap s2-orph)
pctl "mode?set=cut"
need 15 "edge2 Ready=Unknown after the cut" mc_ready edge2 Unknown
hubctl delete membercluster edge2 --wait=false >/dev/null || bad "precondition: kubectl delete membercluster edge2"
leaving_unreachable() {
	local j c
	j=$(mcj edge2)
	jt '.metadata.deletionTimestamp != null' <<<"$j" >/dev/null || { why="not held: $(jq -c '.metadata // .' <<<"$j")"; return 1; }
	c=$(jq -c '.status.conditions[]? | select(.type == "Leaving")' <<<"$j")
	why="Leaving: ${c:-none}"
	jt '.status == "True" and .reason == "MemberUnreachable" and (.message | test("force-leave"))' <<<"$c"
}
eventually 12 "2: it stays, Leaving=True reason MemberUnreachable, the message says how to force it" leaving_unreachable
leaving_metric() { curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -qx 'kclient_member_phase{cluster="edge2",phase="Leaving"} 1'; }
eventually 5 "2: /metrics says edge2 is Leaving (kclient_member_phase)" leaving_metric
present_before=0
mcj edge2 | is_obj && present_before=1
hubctl annotate membercluster edge2 federation.kclient.io/force-leave=true >/dev/null 2>&1
annotate_rc=$?
forced_gone() {
	[ "$present_before" = 1 ] && [ "$annotate_rc" = 0 ] || { why="precondition: present before the annotation: $present_before, kubectl annotate rc $annotate_rc"; return 1; }
	mc_gone edge2
}
eventually 10 "2: annotating federation.kclient.io/force-leave=true lets it go" forced_gone
untouched() {
	local a b
	a=$(snap s2-del)
	b=$(snap s2-orph)
	why="before $snap_del $snap_orph, now $a $b"
	[ "$a" = "$snap_del" ] && [ "$b" = "$snap_orph" ] && [ "$a" != '{"uid":null,"rv":null,"labels":null}' ]
}
check "2: the copies on the member are untouched (uid, resourceVersion, labels)" untouched

# --------------------------------------------------------------------------
alive
say "3. rejoin after hub objects were deleted while the cluster was out"
mc_remove edge2 # in case the force-leave did not let it go
orph_labelled() { pgj edge2 sp s2 s2-orph | jt "($FOUR_LABELS) == 4"; }
need 5 "the s2-orph copy is still labelled as ours before the rejoin" orph_labelled
uid_s2_orph=$(copy_uid edge2 sp s2 s2-orph)
hubctl -n s2 delete fpg s2-del s2-orph --wait=false >/dev/null
s2_gone() { fpg_gone s2 s2-del && fpg_gone s2 s2-orph; }
need 15 "both s2 objects gone from the hub" s2_gone
copy_exists edge2 sp s2 s2-del || bad "precondition: the s2-del copy is still on edge2 before the rejoin"
pctl "mode?set=pass"
register_member edge2 shenzhen "$E2E_DIR/edge2-via-proxy.kubeconfig"
need 20 "edge2 rejoined, Ready=True" mc_ready edge2 True
eventually 15 "3: a Delete-policy copy whose hub object was deleted while out is removed on rejoin" copy_gone edge2 sp s2 s2-del
eventually 15 "3: the Orphan copy is released on rejoin (labels gone, same uid)" orphan_released edge2 s2 s2-orph "$uid_s2_orph"
sleep 2
same_uid() { [ -n "$uid_s2_orph" ] && [ "$(copy_uid edge2 sp s2 s2-orph)" = "$uid_s2_orph" ] || { why="uid before $uid_s2_orph, now $(copy_uid edge2 sp s2 s2-orph)"; return 1; }; }
check "3: the Orphan copy is never deleted (uid unchanged)" same_uid

# --------------------------------------------------------------------------
alive
say "4. the same cluster under two names, then a rename"
namespaces s4
fpg_apply s4 s4-pg Delete '{clusterNames: [edge1]}'
cluster_label() { pgj edge1 sp s4 s4-pg | jq -r '.metadata.labels["federation.kclient.io/cluster"] // empty'; }
label_is() { [ "$(cluster_label)" = "$1" ]; }
need 20 "s4 copy on edge1 labelled cluster=edge1" label_is edge1
s4_snap=$(pgj edge1 sp s4 s4-pg | jq -c '{uid: .metadata.uid, rv: .metadata.resourceVersion}')
s4_uid=$(jq -r .uid <<<"$s4_snap")
rv0=$(api edge1 "$SP/namespaces/s4/podgroups" | jq -r .metadata.resourceVersion)
timeout 60 kubectl --kubeconfig "$E2E_DIR/edge1/kubeconfig" get --raw \
	"$SP/namespaces/s4/podgroups?watch=1&resourceVersion=$rv0" >"$E2E_DIR/s4.watch" 2>&1 &
watch_pid=$!
register_member edge1b guangzhou "$E2E_DIR/edge1/kubeconfig"
t4=$SECONDS
duplicate() {
	local j c
	j=$(mcj edge1b)
	c=$(jq -c '.status.conditions[]? | select(.type == "Ready")' <<<"$j")
	why="phase $(jq -r .status.phase <<<"$j"), Ready: $c"
	[ "$(jq -r .status.phase <<<"$j")" = Duplicate ] &&
		jt '.status == "False" and .reason == "DuplicateCluster" and (.message | test("edge1"))' <<<"$c"
}
eventually 15 "4: edge1b: Ready=False reason DuplicateCluster naming edge1, status.phase Duplicate" duplicate
same_id() {
	local a b
	a=$(mcj edge1 | jq -r '.status.clusterID // empty')
	b=$(mcj edge1b | jq -r '.status.clusterID // empty')
	why="edge1 '${a}', edge1b '${b}'"
	[ -n "$a" ] && [ "$a" = "$b" ]
}
check "4: status.clusterID is set and equal for edge1 and edge1b" same_id
sleep $((t4 + 15 - SECONDS > 0 ? t4 + 15 - SECONDS : 0))
watch_alive=0
kill -0 "$watch_pid" 2>/dev/null && watch_alive=1
check "4: over 15 s the copy's uid does not change" sh -c "[ \"\$1\" = \"\$2\" ] && [ -n \"\$1\" ]" _ "$s4_uid" "$(copy_uid edge1 sp s4 s4-pg)"
no_delete() {
	[ "$watch_alive" = 1 ] || { why="precondition: the watch on edge1 ended early: $(head -c 300 "$E2E_DIR/s4.watch")"; return 1; }
	local d
	d=$(grep -c '"type":"DELETED"' "$E2E_DIR/s4.watch")
	why="$d DELETED events, $(grep -c '"type":"ADDED"' "$E2E_DIR/s4.watch") ADDED, $(grep -c '"type":"MODIFIED"' "$E2E_DIR/s4.watch") MODIFIED"
	[ "$d" = 0 ]
}
check "4: the member saw no DELETE in those 15 s (watch on edge1)" no_delete
untouched4() {
	local now4
	now4=$(pgj edge1 sp s4 s4-pg | jq -c '{uid: .metadata.uid, rv: .metadata.resourceVersion}')
	why="before $s4_snap, now $now4, cluster label $(cluster_label)"
	[ "$now4" = "$s4_snap" ] && label_is edge1
}
check "4: the duplicate never writes: resourceVersion unchanged, cluster label still edge1" untouched4
kill "$watch_pid" 2>/dev/null
watch_pid=""
# rename: placement names the new MemberCluster, then the old one is deleted
hubctl -n s4 patch fpg s4-pg --type merge -p '{"spec":{"placement":{"clusterNames":["edge1","edge1b"]}}}' >/dev/null
hubctl delete membercluster edge1 --wait=false >/dev/null || bad "precondition: kubectl delete membercluster edge1"
handed_over() {
	label_is edge1b || { why="cluster label '$(cluster_label)'"; return 1; }
	[ "$(copy_uid edge1 sp s4 s4-pg)" = "$s4_uid" ] || { why="uid $(copy_uid edge1 sp s4 s4-pg), was $s4_uid"; return 1; }
}
eventually 20 "4: after deleting edge1 the copy is handed over to edge1b (cluster label edge1b, same uid)" handed_over
eventually 15 "4: edge1b becomes Ready=True" mc_ready edge1b True
eventually 10 "4: the old MemberCluster edge1 is gone" mc_gone edge1

# --------------------------------------------------------------------------
alive
say "8. flavour change on a live member"
hubctl create namespace s8 >/dev/null
edgectl edge2 create namespace s8 >/dev/null
fpg_apply s8 s8-pg Delete '{clusterNames: [edge2]}'
need 20 "s8 scheduler-plugins copy on edge2" copy_exists edge2 sp s8 s8-pg
gen8=$(fpgj s8 s8-pg | jq -r .metadata.generation)
hubctl patch membercluster edge2 --type merge -p '{"spec":{"podGroupAPI":"Volcano"}}' >/dev/null ||
	bad "precondition: patch podGroupAPI Volcano"
t8=$SECONDS
volcano_copy() {
	[ "$(fpgj s8 s8-pg | jq -r .metadata.generation)" = "$gen8" ] || { why="the hub object changed"; return 1; }
	copy_exists edge2 vc s8 s8-pg
}
eventually 10 "8: the Volcano copy appears within 10 s without touching the FederatedPodGroup" volcano_copy
left=$((t8 + 12 - SECONDS))
eventually $((left > 1 ? left : 1)) "8: the scheduler-plugins copy is gone" copy_gone edge2 sp s8 s8-pg

alive
echo "run time $((SECONDS - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
