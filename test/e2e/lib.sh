# test/e2e/lib.sh - shared by the end-to-end tests and the demo: start a hub
# and edge clusters, register members, run the operator.  Source it.
#   E2E_DIR    work directory (clusters, logs)
#   BUILD_DIR  where kclient-operator and kubectl-patch_status were built
E2E_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${BUILD_DIR:=$E2E_TOP/build}"
OPERATOR_BIN=$BUILD_DIR/operator/kclient-operator

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
hubctl() { kubectl --kubeconfig "$E2E_DIR/hub/kubeconfig" "$@"; }
edgectl() { local e=$1; shift; kubectl --kubeconfig "$E2E_DIR/$e/kubeconfig" "$@"; }

# cluster_up NAME [apiserver flags]: a control plane with our CRDs installed
cluster_up() {
	local name=$1
	shift
	"$E2E_TOP/test/local-cluster" start "$E2E_DIR/$name" "$@" >/dev/null
	kubectl --kubeconfig "$E2E_DIR/$name/kubeconfig" apply --server-side -f "$E2E_TOP/crds/" >/dev/null
	kubectl --kubeconfig "$E2E_DIR/$name/kubeconfig" wait --for condition=established --timeout=60s -f "$E2E_TOP/crds/" >/dev/null
}

cluster_down() { "$E2E_TOP/test/local-cluster" stop "$E2E_DIR/$1" >/dev/null 2>&1 || true; }

# A kubeconfig for NAME whose server is SERVER (e.g. through the fault proxy).
kubeconfig_via() {
	local name=$1 server=$2
	sed -E "s#server: https://127.0.0.1:[0-9]+#server: $server#" "$E2E_DIR/$name/kubeconfig"
}

# proxy_up NAME: test/fault-proxy in front of cluster NAME.  Sets proxy_pid,
# proxy_port and proxy_ctl, writes $E2E_DIR/NAME-via-proxy.kubeconfig;
# `proxy PATH` then drives it (mode?set=cut, ...).  Returns 1 if it does
# not come up.
proxy_up() {
	local name=$1
	"$E2E_TOP/test/fault-proxy" --listen 127.0.0.1:0 --upstream "127.0.0.1:$(cat "$E2E_DIR/$name/port")" \
		--control 127.0.0.1:0 --port-file "$E2E_DIR/proxy.ports" >"$E2E_DIR/proxy.log" 2>&1 &
	proxy_pid=$!
	wait_for 60 "fault proxy" test -s "$E2E_DIR/proxy.ports" || return 1
	proxy_port=$(sed -n 's/^listen=//p' "$E2E_DIR/proxy.ports")
	proxy_ctl=$(sed -n 's/^control=//p' "$E2E_DIR/proxy.ports")
	kubeconfig_via "$name" "https://127.0.0.1:$proxy_port" >"$E2E_DIR/$name-via-proxy.kubeconfig"
}
proxy() { curl -sf "http://127.0.0.1:$proxy_ctl/$1" >/dev/null; }

# register_member NAME REGION [KUBECONFIG_FILE]: Secret + MemberCluster on the hub
register_member() {
	local name=$1 region=$2 kc
	kc=${3:-$E2E_DIR/$name/kubeconfig}
	hubctl create namespace kclient-system --dry-run=client -o yaml | hubctl apply -f - >/dev/null
	hubctl -n kclient-system create secret generic "member-$name" --from-file=kubeconfig="$kc" \
		--dry-run=client -o yaml | hubctl apply -f - >/dev/null
	hubctl apply -f - >/dev/null <<YAML
apiVersion: federation.kclient.io/v1alpha1
kind: MemberCluster
metadata:
  name: $name
  labels: {region: $region}
spec:
  kubeconfigSecretRef: {namespace: kclient-system, name: member-$name}
  podGroupAPI: ${MEMBER_API:-Coscheduling}
  healthCheck: {periodSeconds: ${PROBE_PERIOD:-2}, timeoutSeconds: ${PROBE_TIMEOUT:-1}, failureThreshold: 2}
  unreachableGraceSeconds: ${GRACE:-4}
YAML
}

# operator_start NAME [flags]: run the operator in the background (pid in $E2E_DIR/NAME.pid)
operator_start() {
	local name=$1
	shift
	"$OPERATOR_BIN" --kubeconfig "$E2E_DIR/hub/kubeconfig" --namespace kclient-system "$@" \
		>"$E2E_DIR/$name.log" 2>&1 &
	echo $! >"$E2E_DIR/$name.pid"
}

operator_stop() { # NAME [signal]
	local pid
	pid=$(cat "$E2E_DIR/$1.pid" 2>/dev/null) || return 0
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local rc=$?
	rm -f "$E2E_DIR/$1.pid"
	return $rc
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= end)); then
			echo "timed out after ${secs}s waiting for: $what" >&2
			return 1
		fi
		sleep 0.5
	done
}

fpg_field() { hubctl get fpg -n "$1" "$2" -o jsonpath="{$3}" 2>/dev/null; }
