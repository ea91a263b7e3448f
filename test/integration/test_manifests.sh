#!/usr/bin/env bash
# Integration: the CRDs (crds/) and the operator's deployment (deploy/)
# against the real local control plane.
#  - every CRD applies server-side, is Established and structural;
#  - valid MemberCluster / FederatedPodGroup objects are accepted, invalid
#    ones rejected with the right message, defaults applied, printer columns
#    shown, status subresources behave (and the Volcano PodGroup has none);
#  - the two PodGroup CRDs are those of the upstream releases their headers
#    name (names, short names, scope, subresources, printer columns, schema:
#    a digest of all of it without descriptions), so that with both
#    installed the short name "pg" is ambiguous exactly as on a real cluster
#    that runs both schedulers, and the full names are not;
#  - `kubectl kustomize deploy/` is accepted by a server-side dry run;
#  - the operator's RBAC grants exactly what it needs and nothing broader
#    (kubectl auth can-i as its ServiceAccount, and a real token).
#   test_manifests.sh CLUSTER_DIR [SOURCE_DIR]
set -uo pipefail
cluster=$1
top=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
export KUBECONFIG="$cluster/kubeconfig"
work=$(mktemp -d /tmp/kc-manifests.XXXXXX)
sa=system:serviceaccount:kclient-system:kclient-operator
ns=manifests-$$
mca=mf-$$-a mcb=mf-$$-b
cleanup() {
	kubectl delete membercluster "$mca" "$mcb" --ignore-not-found --wait=false >/dev/null 2>&1
	# no namespace controller here: the namespace stays Terminating; harmless
	kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
show() { grep -v 'version difference between client' "$1" | sed 's/^/    /' | head -"${2:-8}"; }
expect_ok() { # description command...
	local what=$1
	shift
	if "$@" >"$work/out" 2>"$work/err"; then ok "$what"; else
		bad "$what: exit $?"; show "$work/err"
	fi
}
expect_reject() { # description message-substring command...  (stdin passed through)
	local what=$1 want=$2
	shift 2
	if "$@" >"$work/out" 2>"$work/err"; then
		bad "$what: accepted, want rejection with '$want'"
	elif grep -qF -- "$want" "$work/err"; then ok "$what"; else
		bad "$what: rejected without '$want'"; show "$work/err"
	fi
}
expect_eq() { # description got want
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}
# HTTP status of a raw request as the admin: method path content-type body
http_code() {
	curl -sS -o "$work/body" -w '%{http_code}' --cacert "$cluster/ca.crt" \
		-H "Authorization: Bearer $(cat "$cluster/admin.token")" -X "$1" \
		-H "Content-Type: $3" --data-binary "$4" "https://127.0.0.1:$(cat "$cluster/port")$2"
}

# ---------------------------------------------------------------- CRDs
crd_files=("$top"/crds/*.yaml)
expect_ok "CRDs apply server-side (${#crd_files[@]} files)" kubectl apply --server-side -f "$top/crds/"
expect_ok "CRDs become Established" kubectl wait --for condition=established --timeout=60s -f "$top/crds/"
for f in "${crd_files[@]}"; do
	name=$(kubectl get -f "$f" -o jsonpath='{.metadata.name}' 2>/dev/null)
	conds=$(kubectl get crd "$name" -o json 2>/dev/null |
		jq -r '[.status.conditions[] | "\(.type)=\(.status)"] | sort | join(",")')
	expect_eq "$name: Established, NamesAccepted, structural" "$conds" "Established=True,NamesAccepted=True"
done
crd_field() { kubectl get crd "$1" -o jsonpath="$2" 2>/dev/null; }
expect_eq "MemberCluster: cluster-scoped, short name mc, status subresource" \
	"$(crd_field memberclusters.federation.kclient.io '{.spec.scope} {.spec.names.shortNames} {.spec.versions[0].subresources}')" \
	'Cluster ["mc"] {"status":{}}'
expect_eq "FederatedPodGroup: namespaced, short name fpg, status subresource" \
	"$(crd_field federatedpodgroups.federation.kclient.io '{.spec.scope} {.spec.names.shortNames} {.spec.versions[0].subresources}')" \
	'Namespaced ["fpg"] {"status":{}}'

# The PodGroup CRDs are copies of upstream's (see their header comments):
# Volcano v1.15.1 and scheduler-plugins v0.34.7.
vcr=podgroups.scheduling.volcano.sh spr=podgroups.scheduling.x-k8s.io
crd_json() { kubectl get crd "$1" -o json 2>/dev/null | jq -c "$2"; }
expect_eq "Volcano PodGroup: group, names and short names of upstream v1.15.1" \
	"$(crd_json "$vcr" '[.spec.group, .spec.names]')" \
	'["scheduling.volcano.sh",{"kind":"PodGroup","listKind":"PodGroupList","plural":"podgroups","shortNames":["pg","podgroup-v1beta1"],"singular":"podgroup"}]'
expect_eq "Volcano PodGroup: Namespaced, v1beta1 served and stored, NO subresources" \
	"$(crd_json "$vcr" '[.spec.scope, [.spec.versions[] | [.name, .served, .storage, (.subresources // {} | keys)]]]')" \
	'["Namespaced",[["v1beta1",true,true,[]]]]'
expect_eq "Volcano PodGroup: printer columns of upstream" \
	"$(crd_json "$vcr" '[.spec.versions[0].additionalPrinterColumns[] | "\(.name)=\(.jsonPath)/\(.priority // 0)"]')" \
	'["STATUS=.status.phase/0","minMember=.spec.minMember/0","RUNNINGS=.status.running/0","AGE=.metadata.creationTimestamp/0","QUEUE=.spec.queue/1"]'
expect_eq "scheduler-plugins PodGroup: group, names and short names of upstream v0.34.7" \
	"$(crd_json "$spr" '[.spec.group, .spec.names]')" \
	'["scheduling.x-k8s.io",{"kind":"PodGroup","listKind":"PodGroupList","plural":"podgroups","shortNames":["pg","pgs"],"singular":"podgroup"}]'
expect_eq "scheduler-plugins PodGroup: Namespaced, v1alpha1 served and stored, status subresource" \
	"$(crd_json "$spr" '[.spec.scope, [.spec.versions[] | [.name, .served, .storage, (.subresources // {} | keys)]]]')" \
	'["Namespaced",[["v1alpha1",true,true,["status"]]]]'
expect_eq "scheduler-plugins PodGroup: printer columns of upstream" \
	"$(crd_json "$spr" '[.spec.versions[0].additionalPrinterColumns[] | "\(.name)=\(.jsonPath)/\(.priority // 0)"]')" \
	'["Phase=.status.phase/0","MinMember=.spec.minMember/0","Running=.status.running/0","Succeeded=.status.succeeded/0","Failed=.status.failed/0","Age=.metadata.creationTimestamp/0"]'
# Everything a client or the server acts on (group, names, scope, versions,
# subresources, printer columns, the whole schema with its types, formats,
# enums, minimums, maxLengths, patterns, defaults, required and
# x-kubernetes-* markers), without the descriptions, as a digest.  The
# expected digests are those of the upstream files themselves, computed with
# the same filter:
#   python3 -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))' \
#     <UPSTREAM.yaml | jq -cS "$crd_norm" | sha256sum
# (the same as applying the upstream file to a scratch cluster and running
# crd_digest there: the server keeps these fields as given).
# A mismatch means our copy drifted from upstream: fix the copy, never the
# digest (unless moving both the copy and its header to another release).
crd_norm='def nodesc: walk(if type == "object" then del(.description) else . end);
	{group: .spec.group, names: .spec.names, scope: .spec.scope,
	 versions: [.spec.versions[] | {name, served, storage, subresources: (.subresources // {}),
	   additionalPrinterColumns: (.additionalPrinterColumns // []), schema}]} | nodesc'
crd_digest() { kubectl get crd "$1" -o json 2>/dev/null | jq -cS "$crd_norm" | sha256sum | cut -d' ' -f1; }
expect_eq "Volcano PodGroup: schema identical to upstream v1.15.1 (digest)" "$(crd_digest "$vcr")" \
	015a3d565415771c9a5b546992b565b0d52adb93473cb43ecf932801222e8159
expect_eq "scheduler-plugins PodGroup: schema identical to upstream v0.34.7 (digest)" "$(crd_digest "$spr")" \
	cd64ef6f05e52a91da0e3bd56472bcceb5ca8582352827798ce4ba2cd3aaa861
# what the server serves (discovery), which is what kubectl and kclient resolve
disc() { kubectl get --raw "$1" 2>/dev/null | jq -c '[.resources[] | [.name, .namespaced, (.shortNames // [])]]'; }
expect_eq "discovery: scheduling.volcano.sh/v1beta1 serves podgroups (pg, podgroup-v1beta1), no podgroups/status" \
	"$(disc /apis/scheduling.volcano.sh/v1beta1)" '[["podgroups",true,["pg","podgroup-v1beta1"]]]'
expect_eq "discovery: scheduling.x-k8s.io/v1alpha1 serves podgroups (pg, pgs) and podgroups/status" \
	"$(disc /apis/scheduling.x-k8s.io/v1alpha1)" '[["podgroups",true,["pg","pgs"]],["podgroups/status",true,[]]]'

kubectl create namespace "$ns" >/dev/null 2>&1

# ---------------------------------------------------------------- MemberCluster
mc() { # name spec-yaml  -> object on stdout
	printf 'apiVersion: federation.kclient.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: %s, labels: {region: shenzhen}}\nspec:\n%s\n' "$1" "$2"
}
mc "$mca" '  kubeconfigSecretRef: {namespace: kclient-system, name: edge-a}' >"$work/mca.yaml"
expect_ok "valid minimal MemberCluster created" kubectl create -f "$work/mca.yaml"
expect_eq "MemberCluster defaults (key, podGroupAPI, healthCheck, grace)" \
	"$(kubectl get mc "$mca" -o json 2>/dev/null | jq -c '.spec | [.kubeconfigSecretRef.key, .podGroupAPI, .healthCheck.periodSeconds, .healthCheck.timeoutSeconds, .healthCheck.failureThreshold, .unreachableGraceSeconds]')" \
	'["kubeconfig","Coscheduling",10,5,3,40]'
mc "$mcb" '  kubeconfigSecretRef: {namespace: kclient-system, name: edge-b, key: config}
  podGroupAPI: Volcano
  healthCheck: {periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 5}
  unreachableGraceSeconds: 0' >"$work/mcb.yaml"
expect_ok "valid full MemberCluster created" kubectl create -f "$work/mcb.yaml"
expect_eq "MemberCluster explicit values kept" \
	"$(kubectl get mc "$mcb" -o json 2>/dev/null | jq -c '.spec | [.kubeconfigSecretRef.key, .podGroupAPI, .healthCheck.periodSeconds, .unreachableGraceSeconds]')" \
	'["config","Volcano",2,0]'
expect_eq "placement labels are metadata.labels" \
	"$(kubectl get mc -l region=shenzhen -o name 2>/dev/null | grep -c "mf-$$-")" 2

mc mf-$$-bad '  kubeconfigSecretRef: {namespace: kclient-system}' >"$work/bad.yaml"
expect_reject "MemberCluster without kubeconfigSecretRef.name rejected" \
	'spec.kubeconfigSecretRef.name: Required value' kubectl create -f "$work/bad.yaml"
mc mf-$$-bad '  podGroupAPI: Coscheduling' >"$work/bad.yaml"
expect_reject "MemberCluster without kubeconfigSecretRef rejected" \
	'spec.kubeconfigSecretRef: Required value' kubectl create -f "$work/bad.yaml"
mc mf-$$-bad '  kubeconfigSecretRef: {namespace: kclient-system, name: x}
  podGroupAPI: Kueue' >"$work/bad.yaml"
expect_reject "MemberCluster with podGroupAPI Kueue rejected" \
	'spec.podGroupAPI: Unsupported value: "Kueue": supported values: "Coscheduling", "Volcano", "Auto"' \
	kubectl create -f "$work/bad.yaml"
mc mf-$$-bad '  kubeconfigSecretRef: {namespace: kclient-system, name: x}
  healthCheck: {periodSeconds: 0}' >"$work/bad.yaml"
expect_reject "MemberCluster with healthCheck.periodSeconds 0 rejected" \
	'spec.healthCheck.periodSeconds in body should be greater than or equal to 1' kubectl create -f "$work/bad.yaml"
mc mf-$$-bad '  kubeconfigSecretRef: {namespace: kclient-system, name: x}
  unreachableGraceSeconds: -1' >"$work/bad.yaml"
expect_reject "MemberCluster with unreachableGraceSeconds -1 rejected" \
	'spec.unreachableGraceSeconds in body should be greater than or equal to 0' kubectl create -f "$work/bad.yaml"

ready='{"type":"Ready","status":"True","reason":"ProbeSucceeded","message":"","lastTransitionTime":"2025-01-01T00:00:00Z","observedGeneration":1}'
expect_ok "MemberCluster status written through /status" kubectl patch mc "$mca" --subresource=status --type=merge \
	-p "{\"status\":{\"phase\":\"Ready\",\"clusterID\":\"0b7c9c1e-0000-4000-8000-000000000001\",\"kubernetesVersion\":\"v1.34.4\",\"lastProbeTime\":\"2025-01-01T00:00:05Z\",\"lastSuccessfulContactTime\":\"2025-01-01T00:00:05Z\",\"conditions\":[$ready]}}"
expect_reject "condition status Maybe rejected" \
	'status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown"' \
	kubectl patch mc "$mca" --subresource=status --type=merge \
	-p '{"status":{"conditions":[{"type":"Ready","status":"Maybe","reason":"Probe","message":"","lastTransitionTime":"2025-01-01T00:00:00Z"}]}}'
expect_reject "condition without reason rejected" 'status.conditions[0].reason: Required value' \
	kubectl patch mc "$mca" --subresource=status --type=merge \
	-p '{"status":{"conditions":[{"type":"Ready","status":"True","message":"","lastTransitionTime":"2025-01-01T00:00:00Z"}]}}'
expect_reject "lastProbeTime that is not a date-time rejected" 'status.lastProbeTime' \
	kubectl patch mc "$mca" --subresource=status --type=merge -p '{"status":{"lastProbeTime":"yesterday"}}'
expect_reject "a phase outside the lifecycle rejected" 'status.phase' \
	kubectl patch mc "$mca" --subresource=status --type=merge -p '{"status":{"phase":"Gone"}}'
kubectl patch mc "$mca" --type=merge -p '{"status":{"kubernetesVersion":"v0.0.0"}}' >/dev/null 2>&1
expect_eq "status ignored on the main resource (subresource)" \
	"$(kubectl get mc "$mca" -o jsonpath='{.status.kubernetesVersion}' 2>/dev/null)" v1.34.4
kubectl get mc "$mca" >"$work/out" 2>/dev/null
expect_eq "kubectl get mc: columns" "$(head -1 "$work/out" | tr -s ' ')" "NAME PHASE READY VERSION AGE"
expect_eq "kubectl get mc: Phase, Ready and Version values" "$(awk 'NR==2 {print $1, $2, $3, $4}' "$work/out")" "$mca Ready True v1.34.4"

# ---------------------------------------------------------------- FederatedPodGroup
fpg() { # name spec-yaml
	printf 'apiVersion: federation.kclient.io/v1alpha1\nkind: FederatedPodGroup\nmetadata: {name: %s}\nspec:\n%s\n' "$1" "$2"
}
fpg full '  placement:
    clusterNames: [edge-a, edge-b]
    clusterSelector:
      matchLabels: {region: shenzhen}
      matchExpressions:
        - {key: zone, operator: In, values: [z1, z2]}
        - {key: gpu, operator: Exists}
  template:
    metadata: {labels: {team: ml}, annotations: {note: x}}
    spec:
      minMember: 4
      minResources: {cpu: "2", memory: 4Gi, nvidia.com/gpu: 1}
      scheduleTimeoutSeconds: 60
      queue: default
      priorityClassName: high
      minTaskMember: {worker: 3, ps: 1}
  overrides:
    - clusterName: edge-a
      patches:
        - {op: replace, path: /spec/minMember, value: 2}
        - {op: add, path: /metadata/labels/site, value: a}
        - {op: remove, path: /metadata/annotations/note}
  minReadyClusters: 2
  deletionPolicy: Orphan' >"$work/full.yaml"
expect_ok "valid full FederatedPodGroup created" kubectl create -n "$ns" -f "$work/full.yaml"
expect_eq "FederatedPodGroup explicit values kept" \
	"$(kubectl get fpg -n "$ns" full -o json 2>/dev/null | jq -c '.spec | [.deletionPolicy, .minReadyClusters, .template.spec.minResources.memory, .overrides[0].patches[0].value]')" \
	'["Orphan",2,"4Gi",2]'
fpg min '  placement: {clusterSelector: {}}
  template: {spec: {minMember: 0}}' >"$work/min.yaml"
expect_ok "valid minimal FederatedPodGroup created" kubectl create -n "$ns" -f "$work/min.yaml"
expect_eq "FederatedPodGroup defaults (deletionPolicy, minReadyClusters)" \
	"$(kubectl get fpg -n "$ns" min -o jsonpath='{.spec.deletionPolicy} {.spec.minReadyClusters}' 2>/dev/null)" "Delete 1"

reject_fpg() { # description message spec-yaml
	fpg bad "$3" >"$work/bad.yaml"
	expect_reject "$1" "$2" kubectl create -n "$ns" -f "$work/bad.yaml"
}
reject_fpg "minMember -1 rejected" \
	'spec.template.spec.minMember: Invalid value: -1: spec.template.spec.minMember in body should be greater than or equal to 0' \
	'  template: {spec: {minMember: -1}}'
reject_fpg "missing minMember rejected" 'spec.template.spec.minMember: Required value' \
	'  template: {spec: {queue: q}}'
reject_fpg "missing template rejected" 'spec.template: Required value' '  minReadyClusters: 1'
reject_fpg "deletionPolicy Keep rejected" \
	'spec.deletionPolicy: Unsupported value: "Keep": supported values: "Delete", "Orphan"' \
	'  template: {spec: {minMember: 1}}
  deletionPolicy: Keep'
reject_fpg "minReadyClusters -1 rejected" 'spec.minReadyClusters in body should be greater than or equal to 0' \
	'  template: {spec: {minMember: 1}}
  minReadyClusters: -1'
reject_fpg "minResources that is not a quantity rejected" 'spec.template.spec.minResources.cpu in body should match' \
	'  template: {spec: {minMember: 1, minResources: {cpu: lots}}}'
reject_fpg "selector operator Near rejected" \
	'Unsupported value: "Near": supported values: "In", "NotIn", "Exists", "DoesNotExist"' \
	'  placement: {clusterSelector: {matchExpressions: [{key: zone, operator: Near, values: [a]}]}}
  template: {spec: {minMember: 1}}'
reject_fpg "selector In without values rejected" 'values must be non-empty for In and NotIn' \
	'  placement: {clusterSelector: {matchExpressions: [{key: zone, operator: In}]}}
  template: {spec: {minMember: 1}}'
reject_fpg "two overrides for one cluster rejected" 'spec.overrides[1]: Duplicate value' \
	'  template: {spec: {minMember: 1}}
  overrides: [{clusterName: edge-a}, {clusterName: edge-a}]'
reject_fpg "override op move rejected" 'Unsupported value: "move": supported values: "add", "remove", "replace"' \
	'  template: {spec: {minMember: 1}}
  overrides: [{clusterName: edge-a, patches: [{op: move, path: /spec/minMember}]}]'
reject_fpg "override of the member status rejected" 'spec.overrides[0].patches[0].path in body should match' \
	'  template: {spec: {minMember: 1}}
  overrides: [{clusterName: edge-a, patches: [{op: replace, path: /status/phase, value: Running}]}]'
reject_fpg "override add without value rejected" 'must validate at least one schema (anyOf)' \
	'  template: {spec: {minMember: 1}}
  overrides: [{clusterName: edge-a, patches: [{op: add, path: /spec/queue}]}]'

expect_ok "FederatedPodGroup status written through /status" kubectl patch fpg -n "$ns" full --subresource=status --type=merge \
	-p "{\"status\":{\"observedGeneration\":1,\"phase\":\"Running\",\"placedClusters\":3,\"readyClusters\":2,\"running\":8,\"conditions\":[$ready]}}"
expect_reject "phase Finished rejected" \
	'status.phase: Unsupported value: "Finished": supported values: "Pending", "Scheduling", "Running", "Degraded", "Unknown", "Completed", "Failed"' \
	kubectl patch fpg -n "$ns" full --subresource=status --type=merge -p '{"status":{"phase":"Finished"}}'
expect_reject "FederatedPodGroup condition status Maybe rejected" 'status.conditions[0].status: Unsupported value: "Maybe"' \
	kubectl patch fpg -n "$ns" full --subresource=status --type=merge \
	-p '{"status":{"conditions":[{"type":"Ready","status":"Maybe","reason":"X","message":"","lastTransitionTime":"2025-01-01T00:00:00Z"}]}}'
expect_reject "clusters[] entry without clusterName rejected" 'status.clusters[0].clusterName: Required value' \
	kubectl patch fpg -n "$ns" full --subresource=status --type=merge -p '{"status":{"clusters":[{"applied":true}]}}'
kubectl get fpg -n "$ns" full >"$work/out" 2>/dev/null
expect_eq "kubectl get fpg: columns" "$(head -1 "$work/out" | tr -s ' ')" "NAME PHASE READY PLACED AGE"
expect_eq "kubectl get fpg: Phase, Ready, Placed values" "$(awk 'NR==2 {print $1, $2, $3, $4}' "$work/out")" "full Running 2 3"

# status.clusters[] is a list-type map: two field managers applying
# different clusters merge instead of replacing each other.
fpg_status=/apis/federation.kclient.io/v1alpha1/namespaces/$ns/federatedpodgroups/full/status
for c in edge-a edge-b; do
	code=$(http_code PATCH "$fpg_status?fieldManager=test-$c&force=true" application/apply-patch+yaml \
		"{\"apiVersion\":\"federation.kclient.io/v1alpha1\",\"kind\":\"FederatedPodGroup\",\"metadata\":{\"name\":\"full\",\"namespace\":\"$ns\"},\"status\":{\"clusters\":[{\"clusterName\":\"$c\",\"applied\":true,\"appliedGeneration\":1,\"memberPhase\":\"Running\",\"running\":4,\"lastObservedTime\":\"2025-01-01T00:00:00Z\",\"stale\":false}]}}")
	expect_eq "server-side apply of status.clusters[$c] by its own manager" "$code" 200
done
expect_eq "both clusters[] entries kept (list-map keyed by clusterName)" \
	"$(kubectl get fpg -n "$ns" full -o json 2>/dev/null | jq -c '[.status.clusters[].clusterName] | sort')" '["edge-a","edge-b"]'

# ---------------------------------------------------------------- Volcano PodGroup
# Always by its full name: "pg" may mean either flavour (see below).
vc() { kubectl -n "$ns" "$1" "$vcr" "${@:2}"; }
cat >"$work/vcpg.yaml" <<'EOF'
apiVersion: scheduling.volcano.sh/v1beta1
kind: PodGroup
metadata: {name: vc}
spec: {minMember: 2, minTaskMember: {worker: 2}, queue: default, priorityClassName: high, minResources: {cpu: 500m}}
status:
  phase: Inqueue
  running: 1
  conditions: [{type: Scheduled, status: "True", transitionID: t-1, lastTransitionTime: "2025-01-01T00:00:00Z", reason: tasks-scheduled, message: ok}]
EOF
expect_ok "Volcano PodGroup (with status, whole object) created" kubectl create -n "$ns" -f "$work/vcpg.yaml"
expect_eq "Volcano status written with the object (no subresource)" \
	"$(vc get vc -o jsonpath='{.status.phase} {.status.conditions[0].transitionID}' 2>/dev/null)" "Inqueue t-1"
expect_eq "PATCH .../status of a Volcano PodGroup is 404" \
	"$(http_code PATCH "/apis/scheduling.volcano.sh/v1beta1/namespaces/$ns/podgroups/vc/status" application/merge-patch+json '{"status":{"phase":"Running"}}')" 404
expect_eq "PATCH .../status of a FederatedPodGroup is 200" \
	"$(http_code PATCH "/apis/federation.kclient.io/v1alpha1/namespaces/$ns/federatedpodgroups/full/status" application/merge-patch+json '{"status":{"running":9}}')" 200
expect_reject "Volcano phase Finished rejected" 'status.phase: Unsupported value: "Finished"' \
	vc patch vc --type=merge -p '{"status":{"phase":"Finished"}}'
expect_reject "Volcano running -1 rejected" 'status.running in body should be greater than or equal to 0' \
	vc patch vc --type=merge -p '{"status":{"running":-1}}'
vc get >"$work/out" 2>/dev/null
expect_eq "kubectl get $vcr: columns and values" "$(tr -s ' ' <"$work/out" | cut -d' ' -f1-4 | paste -sd'|')" \
	"NAME STATUS MINMEMBER RUNNINGS|vc Inqueue 2 1"
printf 'apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {name: vc-min}\nspec: {minMember: 1}\n' >"$work/vcmin.yaml"
expect_ok "Volcano PodGroup without queue created" kubectl create -n "$ns" -f "$work/vcmin.yaml"
expect_eq "Volcano queue defaults to \"default\"" "$(vc get vc-min -o jsonpath='{.spec.queue}' 2>/dev/null)" default
printf 'apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {name: vc-bad}\nspec: {minMember: 1, queue: Not_A_Queue}\n' >"$work/vcbad.yaml"
expect_reject "Volcano queue that is not a DNS subdomain rejected" 'spec.queue in body should match' \
	kubectl create -n "$ns" -f "$work/vcbad.yaml"
printf 'apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata: {name: vc-sub}\nspec: {minMember: 1, subGroupPolicy: [{name: g}]}\n' >"$work/vcsub.yaml"
expect_ok "Volcano PodGroup with a subGroupPolicy created" kubectl create -n "$ns" -f "$work/vcsub.yaml"
expect_eq "Volcano subGroupPolicy defaults (subGroupSize 1, minSubGroups 0)" \
	"$(vc get vc-sub -o json 2>/dev/null | jq -c '.spec.subGroupPolicy[0] | [.subGroupSize, .minSubGroups]')" '[1,0]'

# ---------------------------------------------------------------- scheduler-plugins PodGroup
sp() { kubectl -n "$ns" "$1" "$spr" "${@:2}"; }
printf 'apiVersion: scheduling.x-k8s.io/v1alpha1\nkind: PodGroup\nmetadata: {name: sp}\nspec: {minMember: 3, scheduleTimeoutSeconds: 60, minResources: {cpu: "2"}}\n' >"$work/sp.yaml"
expect_ok "scheduler-plugins PodGroup created" kubectl create -n "$ns" -f "$work/sp.yaml"
expect_ok "scheduler-plugins status written through /status" \
	sp patch sp --subresource=status --type=merge -p '{"status":{"phase":"Scheduling","running":2,"succeeded":1}}'
expect_eq "scheduler-plugins status kept" "$(sp get sp -o jsonpath='{.status.phase} {.status.running}' 2>/dev/null)" "Scheduling 2"
sp patch sp --type=merge -p '{"status":{"phase":"Failed"}}' >/dev/null 2>&1
expect_eq "scheduler-plugins status in a main-resource patch ignored (subresource)" \
	"$(sp get sp -o jsonpath='{.status.phase}' 2>/dev/null)" Scheduling
printf 'apiVersion: scheduling.x-k8s.io/v1alpha1\nkind: PodGroup\nmetadata: {name: sp-zero}\nspec: {minMember: 0}\n' >"$work/spzero.yaml"
expect_reject "scheduler-plugins minMember 0 rejected (minimum 1 upstream)" \
	'spec.minMember in body should be greater than or equal to 1' kubectl create -n "$ns" -f "$work/spzero.yaml"
sp get >"$work/out" 2>/dev/null
# (FAILED is empty here, no status.failed: the first five columns)
expect_eq "kubectl get $spr: columns and values" "$(tr -s ' ' <"$work/out" | cut -d' ' -f1-5 | paste -sd'|')" \
	"NAME PHASE MINMEMBER RUNNING SUCCEEDED|sp Scheduling 3 2 1"

# ---------------------------------------------------------------- both flavours installed
# As on a cluster that runs both schedulers: the same plural and the same
# short name "pg" in two groups.  kubectl (and kclient's resolver) pick by
# discovery order; Volcano's group sorts first, so "pg" is expected to be
# Volcano's, with kubectl's warning naming the other.  Whatever it picks,
# the full names are exact, and nothing of ours may use the short name.
for f in sp vc; do
	printf 'apiVersion: %s\nkind: PodGroup\nmetadata: {name: both}\nspec: {minMember: 1}\n' \
		"$([ $f = sp ] && echo scheduling.x-k8s.io/v1alpha1 || echo scheduling.volcano.sh/v1beta1)" >"$work/both-$f.yaml"
	kubectl create -n "$ns" -f "$work/both-$f.yaml" >/dev/null 2>&1
done
pg_api=$(kubectl get pg -n "$ns" both -o jsonpath='{.apiVersion}' 2>"$work/err")
case $pg_api in
scheduling.volcano.sh/v1beta1 | scheduling.x-k8s.io/v1alpha1)
	ok "kubectl get pg resolves to one of the two: $pg_api" ;;
*) bad "kubectl get pg: got '$pg_api'"; show "$work/err" ;;
esac
if grep -q 'short name "pg" could also match' "$work/err"; then
	ok "kubectl warns that \"pg\" is ambiguous: $(grep -o 'short name "pg" could also match.*' "$work/err")"
else bad "kubectl get pg: no ambiguity warning"; show "$work/err"; fi
expect_eq "kubectl get $spr is scheduler-plugins'" \
	"$(sp get both -o jsonpath='{.apiVersion}' 2>/dev/null)" scheduling.x-k8s.io/v1alpha1
expect_eq "kubectl get $vcr is Volcano's" \
	"$(vc get both -o jsonpath='{.apiVersion}' 2>/dev/null)" scheduling.volcano.sh/v1beta1
expect_eq "kubectl get pgs (scheduler-plugins only) is exact" \
	"$(kubectl get pgs -n "$ns" both -o jsonpath='{.apiVersion}' 2>/dev/null)" scheduling.x-k8s.io/v1alpha1
expect_eq "kubectl get podgroup-v1beta1 (Volcano only) is exact" \
	"$(kubectl get podgroup-v1beta1 -n "$ns" both -o jsonpath='{.apiVersion}' 2>/dev/null)" scheduling.volcano.sh/v1beta1
expect_ok "status patch of $spr by its full name (as the demo does)" \
	sp patch both --subresource=status --type=merge -p '{"status":{"phase":"Running","running":1}}'
expect_eq "... lands on the scheduler-plugins object" "$(sp get both -o jsonpath='{.status.phase}' 2>/dev/null)" Running
expect_eq "... and not on the Volcano one" "$(vc get both -o jsonpath='{.status.phase}' 2>/dev/null)" ""

# ---------------------------------------------------------------- deploy/
if kubectl kustomize "$top/deploy" >"$work/deploy.yaml" 2>"$work/err"; then ok "kubectl kustomize deploy/"; else
	bad "kubectl kustomize deploy/"; show "$work/err"
fi
kubectl create -f "$work/deploy.yaml" --dry-run=client -o json >"$work/deploy.json" 2>/dev/null
kinds=$(jq -r '(.items // [.])[] | .kind' "$work/deploy.json" | sort | paste -sd, -)
expect_eq "deploy/ objects" "$kinds" "ClusterRole,ClusterRoleBinding,Deployment,Namespace,Role,RoleBinding,Service,ServiceAccount"
expect_ok "namespace kclient-system applied for real" kubectl apply --server-side -f "$top/deploy/namespace.yaml"
if kubectl apply --dry-run=server -f "$work/deploy.yaml" >"$work/out" 2>"$work/err"; then
	expect_eq "server dry run accepts every object" "$(grep -c '(server dry run)' "$work/out")" 8
else
	bad "server dry run of deploy/"; show "$work/err"
fi
if grep -qi 'would violate\|warning: .*deprecated' "$work/err"; then bad "dry run warnings"; show "$work/err"; else
	ok "no PodSecurity or deprecation warnings"; fi
dep() { jq -c "(.items // [.])[] | select(.kind == \"Deployment\") | $1" "$work/deploy.json"; }
expect_eq "Deployment: 2 replicas, service account, grace 30s, image" \
	"$(dep '[.spec.replicas, .spec.template.spec.serviceAccountName, .spec.template.spec.terminationGracePeriodSeconds, .spec.template.spec.containers[0].image]')" \
	'[2,"kclient-operator",30,"kclient-operator:latest"]'
expect_eq "Deployment: args" "$(dep '.spec.template.spec.containers[0].args')" \
	'["--leader-elect","--namespace=kclient-system","--metrics-bind-address=:8080","--health-probe-bind-address=:8081"]'
expect_eq "Deployment: POD_NAME/POD_NAMESPACE from the downward API" \
	"$(dep '[.spec.template.spec.containers[0].env[] | "\(.name)=\(.valueFrom.fieldRef.fieldPath)"]')" \
	'["POD_NAME=metadata.name","POD_NAMESPACE=metadata.namespace"]'
expect_eq "Deployment: probes on 8081" \
	"$(dep '.spec.template.spec.containers[0] as $c | [$c.livenessProbe.httpGet.path, $c.readinessProbe.httpGet.path, ($c.ports[] | select(.name == $c.livenessProbe.httpGet.port) | .containerPort)]')" \
	'["/healthz","/readyz",8081]'
expect_eq "Deployment: resources" "$(dep '.spec.template.spec.containers[0].resources')" \
	'{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"50m","memory":"32Mi"}}'
expect_eq "Deployment: container securityContext" \
	"$(dep '.spec.template.spec.containers[0].securityContext | [.runAsNonRoot, .runAsUser, .readOnlyRootFilesystem, .allowPrivilegeEscalation, .capabilities.drop, .seccompProfile.type]')" \
	'[true,65532,true,false,["ALL"],"RuntimeDefault"]'
expect_eq "Service: metrics port 8080 selects the operator pods" \
	"$(jq -cs '(map(.items // [.]) | add) as $o | ($o[] | select(.kind == "Deployment") | .spec.template.metadata.labels) as $l | $o[] | select(.kind == "Service") | [.spec.ports[0].name, .spec.ports[0].port, (.spec.selector | to_entries | all(.value == $l[.key]))]' "$work/deploy.json")" \
	'["metrics",8080,true]'

# ---------------------------------------------------------------- RBAC
if grep -nE "([\"'])\*\1|^[[:space:]]*-[[:space:]]*\*[[:space:]]*$|[[,][[:space:]]*\*[[:space:]]*[],]" \
	"$top"/deploy/*.yaml "$top"/crds/*.yaml >"$work/out"; then
	bad "wildcard '*' found in the manifests"; show "$work/out"
else ok "no '*' in deploy/ or crds/"; fi
expect_ok "RBAC and ServiceAccount applied for real" \
	kubectl apply --server-side -f "$top/deploy/serviceaccount.yaml" -f "$top/deploy/rbac.yaml"
rules() { kubectl get "$@" -o json 2>/dev/null |
	jq -r '.rules[] | .apiGroups[] as $g | .resources[] as $r | .verbs[] as $v | "\($g)/\($r):\($v)"' | sort | paste -sd' ' -; }
expect_eq "ClusterRole grants exactly the operator's verbs" "$(rules clusterrole kclient-operator)" \
	"$(printf '%s\n' federation.kclient.io/{federatedpodgroups:{get,list,watch,update,patch},federatedpodgroups/status:{get,patch,update},federatedpodgroups/finalizers:update,memberclusters:{get,list,watch,update,patch},memberclusters/finalizers:update,memberclusters/status:{get,patch,update}} | sort | paste -sd' ' -)"
expect_eq "Role grants exactly the operator's verbs" "$(rules role kclient-operator -n kclient-system)" \
	"$(printf '%s\n' /secrets:{get,list,watch} coordination.k8s.io/leases:{get,create,update,patch} /events:{create,patch} events.k8s.io/events:{create,patch} | sort | paste -sd' ' -)"
expect_eq "no resourceNames, no nonResourceURLs" \
	"$( (kubectl get clusterrole kclient-operator -o json; kubectl get role kclient-operator -n kclient-system -o json) 2>/dev/null |
		jq -s '[.[].rules[] | select(.resourceNames or .nonResourceURLs)] | length')" 0

can() { # want verb resource [flags...]
	local want=$1
	shift
	local got
	got=$(kubectl auth can-i "$@" --as="$sa" 2>"$work/err")
	expect_eq "can-i $* -> $want" "$got" "$want"
}
fpgr=federatedpodgroups.federation.kclient.io mcr=memberclusters.federation.kclient.io
for v in get list watch update patch; do can yes "$v" "$fpgr" --all-namespaces; done
can yes patch "$fpgr" -n "$ns"
for v in get patch update; do can yes "$v" "$fpgr" --subresource=status -n "$ns"; done
can yes update "$fpgr" --subresource=finalizers -n "$ns"
for v in get list watch; do can yes "$v" "$mcr"; done
for v in get patch update; do can yes "$v" "$mcr" --subresource=status; done
for v in get list watch; do can yes "$v" secrets -n kclient-system; done
for v in get create update patch; do can yes "$v" leases.coordination.k8s.io -n kclient-system; done
for r in events events.events.k8s.io; do for v in create patch; do can yes "$v" "$r" -n kclient-system; done; done
# and nothing broader
for v in create delete deletecollection; do can no "$v" "$fpgr" -n "$ns"; done
# update/patch: the member clean-up finalizer (docs/member-lifecycle.md)
for v in update patch; do can yes "$v" "$mcr"; done
can yes update "$mcr" --subresource=finalizers
for v in create delete deletecollection; do can no "$v" "$mcr"; done
can no get secrets -n default
can no get secrets -n "$ns"
can no list secrets --all-namespaces
can no watch secrets --all-namespaces
for v in create update patch delete; do can no "$v" secrets -n kclient-system; done
can no get pods -n kclient-system
can no list pods --all-namespaces
can no create pods -n kclient-system
can no delete leases.coordination.k8s.io -n kclient-system
can no get leases.coordination.k8s.io -n default
can no create events -n default
can no get configmaps -n kclient-system
can no get podgroups.scheduling.x-k8s.io -n "$ns"
can no create customresourcedefinitions.apiextensions.k8s.io
can no create serviceaccounts --subresource=token -n kclient-system
can no escalate clusterroles.rbac.authorization.k8s.io
can no bind clusterroles.rbac.authorization.k8s.io
can no create rolebindings.rbac.authorization.k8s.io -n kclient-system
can no impersonate users
can no '*' '*' --all-namespaces
can no '*' "$fpgr" --all-namespaces
can no '*' secrets -n kclient-system
can no get '*' --all-namespaces

# the same through a real token of the ServiceAccount
if token=$(kubectl create token kclient-operator -n kclient-system --duration=10m 2>"$work/err"); then
	as_sa() { kubectl --kubeconfig=/dev/null --server="https://127.0.0.1:$(cat "$cluster/port")" \
		--certificate-authority="$cluster/ca.crt" --token="$token" "$@"; }
	expect_ok "ServiceAccount token: list memberclusters" as_sa get "$mcr"
	expect_ok "ServiceAccount token: list federatedpodgroups in all namespaces" as_sa get "$fpgr" -A
	expect_ok "ServiceAccount token: list secrets in kclient-system" as_sa get secrets -n kclient-system
	expect_reject "ServiceAccount token: secrets in default forbidden" Forbidden as_sa get secrets -n default
	expect_reject "ServiceAccount token: delete federatedpodgroups forbidden" Forbidden \
		as_sa delete "$fpgr" -n "$ns" min --wait=false
else
	bad "kubectl create token"; show "$work/err"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
