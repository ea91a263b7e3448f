#!/usr/bin/env bash
# valgrind memcheck over every unit test and the integration tests
# test_rest, test_transport, test_watch, test_lease, test_controller and
# test_throttle, using the normal build.
#
#   scripts/valgrind.sh                 (VALGRIND_TESTS="test_url test_rest" for a subset)
#
# Builds build/ (BUILD_DIR) if needed, starts the control planes those tests
# need with test/integration/cluster-fixture.sh (the same commands and flags
# as the CTest fixtures, from `ctest --show-only=json-v1`) in
# build/clusters-valgrind/, runs each test under
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1
# with CK_FORK=no (every test case in the one process valgrind watches) and
# the test's CTest environment pointed at those clusters, VALGRIND_JOBS (2)
# at a time, then stops the clusters.  Logs: build/valgrind/<test>.log.
# Zero errors (invalid reads/writes, uninitialised values, definite or
# indirect leaks) or FAIL.  Suppressions, each with its reason, are in
# test/valgrind.supp.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
out=$build/valgrind
clusters=$build/clusters-valgrind
jobs=${VALGRIND_JOBS:-2}
integration=(test_rest test_transport test_watch test_lease test_controller test_throttle)
t0=$SECONDS

command -v valgrind >/dev/null || { echo "valgrind: FAIL: valgrind not installed"; exit 1; }
command -v jq >/dev/null || { echo "valgrind: FAIL: jq not installed"; exit 1; }
mkdir -p "$build" "$clusters"
if ! "$top/scripts/build.sh" >"$out.build.log" 2>&1; then
	tail -n 40 "$out.build.log"
	echo "valgrind: FAIL: build"
	exit 1
fi
rm -f "$out.build.log"

json=$(cd "$build" && ctest --show-only=json-v1) || { echo "valgrind: FAIL: ctest --show-only"; exit 1; }
# Tests to run: every unit test whose command is an ELF executable (not the
# shell-script checks), and the integration tests above.
mapfile -t names < <(jq -r --arg ints "${integration[*]}" '
	.tests[] | select(
		((.properties // []) | map(select(.name == "LABELS") | .value[]) | index("unit")) or
		(.name as $n | ($ints | split(" ") | index($n))))
	| .name' <<<"$json")
if [[ -n ${VALGRIND_TESTS:-} ]]; then
	read -ra names <<<"$VALGRIND_TESTS"
fi
selected=()
for n in "${names[@]}"; do
	exe=$(jq -r --arg n "$n" '.tests[] | select(.name == $n) | .command[0]' <<<"$json")
	if [[ -z $exe || $exe == null ]]; then
		echo "valgrind: FAIL: no test named $n"
		exit 1
	fi
	[[ $(head -c 4 "$exe" 2>/dev/null | od -An -c | tr -d ' ') == 177ELF ]] && selected+=("$n")
done

# Fixtures the selected tests need, started from their CTest commands with
# the cluster directory moved under clusters-valgrind/.
mapfile -t fixtures < <(for n in "${selected[@]}"; do
	jq -r --arg n "$n" '.tests[] | select(.name == $n) | (.properties // [])[]
		| select(.name == "FIXTURES_REQUIRED") | .value[]' <<<"$json"
done | sort -u)
started=()
stop_clusters() {
	local d
	for d in "${started[@]}"; do
		"$top/test/integration/cluster-fixture.sh" down "$d" >/dev/null 2>&1 &
	done
	wait
}
trap stop_clusters EXIT
for f in "${fixtures[@]}"; do
	mapfile -t cmd < <(jq -r --arg f "$f" '.tests[] | select((.properties // [])[]
		| select(.name == "FIXTURES_SETUP") | .value | index($f)) | .command[]' <<<"$json")
	cmd[2]=${cmd[2]/#$build\/clusters\//$clusters/}
	echo "valgrind: starting cluster $f in ${cmd[2]}"
	if ! "${cmd[@]}" >"$clusters/$f.up.log" 2>&1; then
		cat "$clusters/$f.up.log"
		echo "valgrind: FAIL: cluster $f did not start"
		exit 1
	fi
	rm -f "$clusters/$f.up.log"
	started+=("${cmd[2]}")
done

rm -rf "$out"
mkdir -p "$out"
run_one() { # NAME
	local n=$1 env cmd
	mapfile -t cmd < <(jq -r --arg n "$n" '.tests[] | select(.name == $n) | .command[]' <<<"$json")
	mapfile -t env < <(jq -r --arg n "$n" '.tests[] | select(.name == $n) | (.properties // [])[]
		| select(.name == "ENVIRONMENT") | .value[]' <<<"$json")
	env=("${env[@]//$build\/clusters\//$clusters/}")
	local t=$SECONDS attempt=1 rc
	if [[ $n == test_throttle ]]; then
		# test_throttle must provoke 429s from an apiserver allowing one
		# request in flight.  Under valgrind the client is slower than the
		# server, so its own storm never has two requests there at once
		# ("no 429 provoked").  The same test run natively, over and over
		# while the valgrind run lasts, keeps the server's slot busy (as the
		# same user, "writer", so the same priority level); two loops, so
		# that one storm is always on, started a few seconds ahead.
		touch "$out/$n.pressure.on"
		for i in 1 2; do
			(cd "$build/test" && while [[ -f $out/$n.pressure.on ]]; do
				# own session and no fork: check's signal handler kills its
				# process group, which must not be ours when we stop it
				CK_FORK=no setsid env "${env[@]}" "${cmd[@]}" >>"$out/$n.pressure.out" 2>&1 &
				echo $! >"$out/$n.pressure$i.pid"
				wait $!
			done) &
		done
		sleep 3
	fi
	while :; do
		(cd "$build/test" && env "${env[@]}" CK_FORK=no CK_DEFAULT_TIMEOUT=600 timeout 1800 \
			valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
			--show-leak-kinds=definite,indirect --error-exitcode=1 --num-callers=40 \
			--suppressions="$top/test/valgrind.supp" --gen-suppressions=all \
			--log-file="$out/$n.log" "${cmd[@]}" >"$out/$n.out" 2>&1)
		rc=$?
		# The storm can still slip between the pressure runs' retry waves
		# (all of them sleeping out the same Retry-After).  A failure for
		# that reason alone - the leaks it reports are the aborted test's -
		# is run again, up to three times in all; a memory error is not.
		if [[ $n == test_throttle && $rc != 0 && $attempt -lt 3 ]] &&
			grep -q "no 429 provoked" "$out/$n.out" &&
			! grep -qE 'Invalid (read|write|free)|uninitialised|Mismatched|Syscall param|Source and destination' "$out/$n.log"; then
			echo "valgrind: $n provoked no 429 on attempt $attempt; running it again"
			attempt=$((attempt + 1))
			continue
		fi
		break
	done
	echo "$rc $((SECONDS - t))" >"$out/$n.rc"
	rm -f "$out/$n.pressure.on"
	local f
	for f in "$out/$n".pressure*.pid; do # stop the pressure runs still going
		[[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null
	done
	wait
	rm -f "$out/$n".pressure*.pid
}
echo "valgrind: ${#selected[@]} tests, $jobs at a time"
running=0
for n in "${selected[@]}"; do
	run_one "$n" &
	running=$((running + 1))
	if ((running >= jobs)); then
		wait -n
		running=$((running - 1))
	fi
done
wait
stop_clusters
trap - EXIT

fail=0
printf '%-26s %8s %8s %10s %10s %s\n' test errors "definite" indirect seconds result
for n in "${selected[@]}"; do
	read -r rc secs <"$out/$n.rc"
	errs=$(grep -oE 'ERROR SUMMARY: [0-9]+' "$out/$n.log" | awk '{print $3}' | tail -1)
	def=$(grep -oE 'definitely lost: [0-9,]+ bytes' "$out/$n.log" | awk '{print $3}' | tail -1)
	ind=$(grep -oE 'indirectly lost: [0-9,]+ bytes' "$out/$n.log" | awk '{print $3}' | tail -1)
	res=PASS
	[[ $rc == 0 && ${errs:-x} == 0 ]] || { res=FAIL; fail=1; }
	printf '%-26s %8s %8s %10s %10s %s\n' "$n" "${errs:-?}" "${def:-0}" "${ind:-0}" "$secs" "$res"
	if [[ $res == FAIL ]]; then
		echo "---- $n: exit $rc; test output (tail) ----"
		tail -n 15 "$out/$n.out"
		echo "---- $n: valgrind log (first errors) ----"
		grep -vE '^==[0-9]+== *$' "$out/$n.log" | grep -A 25 -E 'Invalid|uninitialised|definitely lost in|indirectly lost in|Syscall param|Mismatched|Source and destination' | head -n 80
	fi
done
if ((fail)); then
	echo "valgrind: FAIL after $((SECONDS - t0))s"
	exit 1
fi
echo "valgrind: PASS (${#selected[@]} tests; 0 errors, 0 definite/indirect leaks) in $((SECONDS - t0))s"
