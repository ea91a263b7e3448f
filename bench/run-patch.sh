#!/usr/bin/env bash
# bench/run-patch.sh - the status-patch benchmark in one command.
#
#   bench/run-patch.sh [--cluster DIR] [-n N] [-c C] [--rounds R] [--kubectl-n K]
#                      [--python-n P] [--client-only-n M] [--client-only-rounds R2]
#                      [--skip-python] [--skip-client-only] [--skip-callgrind] [--keep]
#
# 1. builds the C benchmarks (build/bench/) and the client-go peers;
#    installs bench/requirements.txt into bench/.venv (once);
# 2. starts a local kube-apiserver (test/local-cluster) in a temporary
#    directory, or uses DIR (started if needed, left running if it was);
# 3. installs the CRDs, creates N PodGroups (default 2000) in a fresh namespace;
# 4. R rounds (default 3, order rotated each round) of N status merge
#    patches, C in flight (default 32), from h2load (the server's ceiling),
#    kclient (bench_patch_kclient), bare libcurl (bench_curl_multi) and
#    client-go (dynamic client); each run writes a new value and every
#    object is checked afterwards;
# 5. a sequential `kubectl patch` loop over K objects (default 50) and the
#    Python client over P objects (default 200), extrapolated to N;
# 6. client only: nghttpd (TLS, HTTP/2, answers at once) on one core, each
#    client on the other, M PATCHes (default 30000), C in flight, R2 rounds
#    (default 5); then kclient and bare libcurl under callgrind (3000
#    PATCHes minus a 1-PATCH run: instructions per PATCH, immune to noise);
# 7. prints the tables: absolute numbers and ratios within this run.
#
# Everything talks to 127.0.0.1 only.  Each step has a timeout; the whole run
# takes about 3 to 6 minutes on 2 cores.  Results: the JSON lines are kept in
# $KC_BENCH_OUT (default /tmp/kclient-bench-patch.jsonl).
set -euo pipefail

N=2000 C=32 ROUNDS=3 CO_ROUNDS=5 KUBECTL_N=50 PY_N=200 CO_N=30000 CG_N=3000
CLUSTER="" SKIP_PY=0 SKIP_CO=0 SKIP_CG=0 KEEP=0
while (($#)); do
	case $1 in
	--cluster) CLUSTER=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	-c) C=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--kubectl-n) KUBECTL_N=$2; shift 2 ;;
	--python-n) PY_N=$2; shift 2 ;;
	--client-only-n) CO_N=$2; shift 2 ;;
	--skip-python) SKIP_PY=1; shift ;;
	--client-only-rounds) CO_ROUNDS=$2; shift 2 ;;
	--skip-client-only) SKIP_CO=1; shift ;;
	--skip-callgrind) SKIP_CG=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,27p' "$0"; exit 0 ;;
	*) echo "run-patch: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
((KUBECTL_N <= N && PY_N <= N)) || { echo "run-patch: --kubectl-n and --python-n must be <= N" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${KC_BUILD_DIR:-$ROOT/build}
OUT=${KC_BENCH_OUT:-/tmp/kclient-bench-patch.jsonl}
WORK=$(mktemp -d /tmp/kclient-bench.XXXXXX)
STEP_TIMEOUT=180
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

NGHTTPD_PID="" OWN_CLUSTER=0 D=""
cleanup() {
	[ -n "$NGHTTPD_PID" ] && kill "$NGHTTPD_PID" 2>/dev/null || true
	if ((OWN_CLUSTER)) && [ -n "$D" ]; then "$ROOT/test/local-cluster" stop "$D" >/dev/null 2>&1 || true; fi
	if ((KEEP)); then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

for t in h2load nghttpd kubectl go python3 jq taskset openssl /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "run-patch: $t is missing: run scripts/install-deps.sh" >&2; exit 1; }
done

# --- 1. build -------------------------------------------------------------
log "building the C benchmarks and the client-go peers"
[ -f "$BUILD/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja >/dev/null
cmake --build "$BUILD" --target bench_patch_kclient bench_curl_multi bench_create >/dev/null
"$BENCH/clientgo/build.sh"
KCLIENT=$BUILD/bench/bench_patch_kclient CURLM=$BUILD/bench/bench_curl_multi CREATE=$BUILD/bench/bench_create
CLIENTGO=$BENCH/clientgo/.bin/patchstatus
if ((!SKIP_PY)); then
	VENV=$BENCH/.venv
	if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$BENCH/requirements.txt" "$VENV/.requirements"; then
		log "installing bench/requirements.txt into bench/.venv"
		python3 -m venv "$VENV"
		"$VENV/bin/pip" install -q --disable-pip-version-check -r "$BENCH/requirements.txt"
		cp "$BENCH/requirements.txt" "$VENV/.requirements"
	fi
fi

# --- 2. cluster -----------------------------------------------------------
if [ -n "$CLUSTER" ]; then
	D=$(cd "$(dirname "$CLUSTER")" && pwd)/$(basename "$CLUSTER")
	"$ROOT/test/local-cluster" status "$D" >/dev/null 2>&1 || { OWN_CLUSTER=1; "$ROOT/test/local-cluster" start "$D" >&2; }
else
	D=$WORK/cluster
	OWN_CLUSTER=1
	log "starting a local control plane in $D"
	"$ROOT/test/local-cluster" start "$D" >&2
fi
KC=$D/kubeconfig
SERVER=https://127.0.0.1:$(cat "$D/port")
TOKEN_FILE=$D/admin.token # admin is in system:masters: never throttled by APF
CA=$D/ca.crt
K() { kubectl --kubeconfig "$KC" "$@"; }
# scheduler-plugins' PodGroups, by the full name: "pg" is Volcano's too (crds/ installs both)
PG=podgroups.scheduling.x-k8s.io

K apply --server-side -f "$ROOT/crds/" >/dev/null
K wait --for condition=established -f "$ROOT/crds/" --timeout=60s >/dev/null
NS=kc-bench-$(date +%s)-$$
log "creating $N PodGroups in namespace $NS"
CREATED=$(timeout $STEP_TIMEOUT "$CREATE" --kubeconfig "$KC" -n "$NS" "$N" 64)
log "created: $CREATED"

: >"$OUT"
emit() { # phase round < json
	jq -c --arg phase "$1" --argjson round "$2" '. + {phase: $phase, round: $round}' | tee -a "$OUT" >&2
}
jq -nc --argjson n "$N" --argjson c "$C" --argjson r "$ROUNDS" --arg date "$(date -u +%FT%TZ)" \
	--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
	--arg rev "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" --arg host "$(nproc) cores" \
	'{phase:"meta", n:$n, concurrency:$c, rounds:$r, date:$date, load:$load, rev:$rev, machine:$host}' >>"$OUT"

# Every run writes status.running = a value of its own; check_all verifies
# that every object carries it afterwards (so every peer really patched all).
VALUE=100
patch_for() { printf '{"status":{"phase":"Running","running":%d}}' "$1"; }
check_all() { # value
	local got
	got=$(K get "$PG" -n "$NS" -o jsonpath='{range .items[*]}{.status.running}{"\n"}{end}' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
	if [ "$got" != "$1=$N " ]; then
		echo "run-patch: after the run writing $1, objects have: $got" >&2
		return 1
	fi
}

check_first() { # count value: pg-0 .. pg-(count-1) carry value
	local bad
	bad=$(K get "$PG" -n "$NS" -o json | jq --argjson k "$1" --argjson v "$2" \
		'[.items[] | select((.metadata.name | ltrimstr("pg-") | tonumber) < $k) | select(.status.running != $v)] | length')
	[ "$bad" = 0 ] || { echo "run-patch: $bad of the first $1 objects lack the value $2" >&2; return 1; }
}

URIS=$WORK/uris.txt
for ((i = 0; i < N; i++)); do
	echo "$SERVER/apis/scheduling.x-k8s.io/v1alpha1/namespaces/$NS/podgroups/pg-$i/status"
done >"$URIS"

run_peer() { # peer phase round value [extra args for the nghttpd target...]
	local peer=$1 phase=$2 round=$3 value=$4 patch
	patch=$(patch_for "$value")
	case $peer in
	kclient)
		timeout $STEP_TIMEOUT "$KCLIENT" --kubeconfig "$KC" -n "$NS" --patch "$patch" "$N" "$C" | emit "$phase" "$round" ;;
	curl-multi)
		timeout $STEP_TIMEOUT "$CURLM" --server "$SERVER" --cacert "$CA" --token-file "$TOKEN_FILE" -n "$NS" \
			--patch "$patch" "$N" "$C" | emit "$phase" "$round" ;;
	client-go)
		timeout $STEP_TIMEOUT "$CLIENTGO" --kubeconfig "$KC" -n "$NS" --patch "$patch" "$N" "$C" | emit "$phase" "$round" ;;
	h2load)
		printf '%s' "$patch" >"$WORK/body.json"
		# one connection, C streams: the same in-flight count as the others;
		# with -c 1 h2load walks the URI list in order, each object once.
		timeout $STEP_TIMEOUT /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" \
			h2load -n "$N" -c 1 -m "$C" -i "$URIS" -d "$WORK/body.json" -H ':method: PATCH' \
			-H 'content-type: application/merge-patch+json' -H 'accept: application/json' \
			-H "authorization: Bearer $(cat "$TOKEN_FILE")" >"$WORK/h2load.out"
		python3 "$BENCH/report.py" h2load "$WORK/h2load.out" "$WORK/time.txt" h2load "$N" "$C" | emit "$phase" "$round" ;;
	esac
}

# --- 4. the rounds --------------------------------------------------------
log "warm-up: one kclient and one client-go run (not counted)"
run_peer kclient warmup 0 $((VALUE++)) 2>/dev/null
run_peer client-go warmup 0 $((VALUE++)) 2>/dev/null
PEERS=(h2load kclient curl-multi client-go)
for ((r = 1; r <= ROUNDS; r++)); do
	for ((j = 0; j < ${#PEERS[@]}; j++)); do
		p=${PEERS[$(((j + r - 1) % ${#PEERS[@]}))]}
		log "round $r/$ROUNDS: $p"
		v=$((VALUE++))
		run_peer "$p" server "$r" "$v"
		check_all "$v"
	done
done

# --- 5. kubectl and Python ------------------------------------------------
log "kubectl: sequential loop over $KUBECTL_N objects"
v=$((VALUE++))
patch=$(patch_for "$v")
t0=$(date +%s.%N)
/usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" bash -c '
	for ((i = 0; i < $1; i++)); do
		kubectl --kubeconfig "$2" -n "$3" patch "$5" "pg-$i" --subresource=status --type merge -p "$4" >/dev/null 2>&1 || exit 1
	done' _ "$KUBECTL_N" "$KC" "$NS" "$patch" "$PG"
t1=$(date +%s.%N)
python3 "$BENCH/report.py" timed "$WORK/time.txt" kubectl "$KUBECTL_N" 1 "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" | emit kubectl 1
check_first "$KUBECTL_N" "$v"
if ((!SKIP_PY)); then
	log "python: sequential loop over $PY_N objects"
	v=$((VALUE++))
	timeout $STEP_TIMEOUT "$BENCH/.venv/bin/python" "$BENCH/py_patch.py" --kubeconfig "$KC" -n "$NS" \
		--patch "$(patch_for "$v")" "$PY_N" | emit python 1
	check_first "$PY_N" "$v"
fi
SAMPLE=$(K get "$PG" pg-0 -n "$NS" -o json | jq -c 'del(.metadata.managedFields)')
if ((OWN_CLUSTER)); then
	"$ROOT/test/local-cluster" stop "$D" >/dev/null
	OWN_CLUSTER=0
	D=""
else
	K delete "$PG" --all -n "$NS" --wait=false >/dev/null 2>&1 || true
fi

# --- 6. client only: nghttpd ----------------------------------------------
if ((!SKIP_CO)); then
	log "client only: nghttpd on CPU 0, clients on CPU 1, $CO_N PATCHes"
	NG=$WORK/nghttpd
	NAMES=$((N < 1000 ? N : 1000))
	mkdir -p "$NG/doc"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$NG/key.pem" -out "$NG/cert.pem" 2>/dev/null
	# a file per object path, holding an object like the apiserver's answer
	python3 - "$NG/doc" "$NS" "$NAMES" "$SAMPLE" <<'EOF'
import json, os, sys
doc, ns, n, sample = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
for i in range(n):
    d = os.path.join(doc, "apis/scheduling.x-k8s.io/v1alpha1/namespaces", ns, "podgroups", f"pg-{i}")
    os.makedirs(d, exist_ok=True)
    sample["metadata"]["name"] = f"pg-{i}"
    with open(os.path.join(d, "status"), "w") as f:
        json.dump(sample, f, separators=(",", ":"))
EOF
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	taskset -c 0 nghttpd -a 127.0.0.1 -d "$NG/doc" "$PORT" "$NG/key.pem" "$NG/cert.pem" >"$NG/log" 2>&1 &
	NGHTTPD_PID=$!
	for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/" && break; sleep 0.1; done
	NGS=https://127.0.0.1:$PORT
	cat >"$NG/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: nghttpd
  cluster: {server: "$NGS", insecure-skip-tls-verify: true}
users:
- name: bench
  user: {token: bench-token}
contexts:
- name: nghttpd
  context: {cluster: nghttpd, user: bench, namespace: "$NS"}
current-context: nghttpd
EOF
	echo bench-token >"$NG/token"
	for ((i = 0; i < NAMES; i++)); do
		echo "$NGS/apis/scheduling.x-k8s.io/v1alpha1/namespaces/$NS/podgroups/pg-$i/status"
	done >"$NG/uris.txt"
	jq -nc --argjson n "$CO_N" --argjson c "$C" '{phase:"client-only-meta", n:$n, concurrency:$c, server_cpu:0, client_cpu:1}' >>"$OUT"
	patch=$(patch_for 1)
	printf '%s' "$patch" >"$NG/body.json"
	CO_PEERS=(kclient curl-multi h2load client-go)
	for ((r = 1; r <= CO_ROUNDS; r++)); do
		for ((j = 0; j < ${#CO_PEERS[@]}; j++)); do
			p=${CO_PEERS[$(((j + r - 1) % ${#CO_PEERS[@]}))]}
			log "client only, round $r/$CO_ROUNDS: $p"
			case $p in
			kclient)
				timeout $STEP_TIMEOUT taskset -c 1 "$KCLIENT" --kubeconfig "$NG/kubeconfig" -n "$NS" --names "$NAMES" \
					--patch "$patch" "$CO_N" "$C" | emit client-only "$r" ;;
			curl-multi)
				timeout $STEP_TIMEOUT taskset -c 1 "$CURLM" --server "$NGS" --insecure --token-file "$NG/token" -n "$NS" \
					--names "$NAMES" --patch "$patch" "$CO_N" "$C" | emit client-only "$r" ;;
			client-go)
				timeout $STEP_TIMEOUT taskset -c 1 "$CLIENTGO" --kubeconfig "$NG/kubeconfig" -n "$NS" --names "$NAMES" \
					--patch "$patch" "$CO_N" "$C" | emit client-only "$r" ;;
			h2load)
				timeout $STEP_TIMEOUT taskset -c 1 /usr/bin/time -f '%e %U %S %M' -o "$NG/time.txt" \
					h2load -n "$CO_N" -c 1 -m "$C" -i "$NG/uris.txt" -d "$NG/body.json" -H ':method: PATCH' \
					-H 'content-type: application/merge-patch+json' -H 'accept: application/json' \
					-H 'authorization: Bearer bench-token' >"$NG/h2load.out"
				python3 "$BENCH/report.py" h2load "$NG/h2load.out" "$NG/time.txt" h2load "$CO_N" "$C" | emit client-only "$r" ;;
			esac
		done
	done
fi

# Instructions per PATCH (callgrind): deterministic, so the noise of a
# shared machine does not move it.  Start-up is removed by a 1-PATCH run.
if ((!SKIP_CO && !SKIP_CG)) && command -v valgrind >/dev/null; then
	irefs() { # file with valgrind's stderr
		sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$1" | tr -d ,
	}
	for p in kclient curl-multi; do
		log "callgrind: $p, 1 and $CG_N PATCHes"
		for n in 1 "$CG_N"; do
			if [ "$p" = kclient ]; then
				cmd=("$KCLIENT" --kubeconfig "$NG/kubeconfig" -n "$NS" --names "$NAMES" --patch "$patch" "$n" "$C")
			else
				cmd=("$CURLM" --server "$NGS" --insecure --token-file "$NG/token" -n "$NS" --names "$NAMES" --patch "$patch" "$n" "$C")
			fi
			timeout 300 valgrind --tool=callgrind --callgrind-out-file="$NG/$p.$n.cg" "${cmd[@]}" >/dev/null 2>"$NG/$p.$n.vg"
		done
		jq -nc --arg c "$p" --argjson n "$CG_N" --argjson i1 "$(irefs "$NG/$p.1.vg")" --argjson iN "$(irefs "$NG/$p.$CG_N.vg")" \
			'{client:$c, n:$n, instr_startup:$i1, instr_total:$iN, instr_per_request:(($iN - $i1) / ($n - 1))}' |
			emit client-only-callgrind 1
	done
fi

# --- 7. tables ------------------------------------------------------------
echo
python3 "$BENCH/report.py" patch "$OUT"
