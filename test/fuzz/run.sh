#!/usr/bin/env bash
# Build the libFuzzer targets and fuzz each one for a while.
#
#   test/fuzz/run.sh [SECONDS]      (default 20 seconds per target)
#
# Builds with clang -fsanitize=fuzzer,address,undefined into build-fuzz/
# (FUZZ_BUILD_DIR), then runs every target (FUZZ_TARGETS, default all) on
# FUZZ_JOBS targets at a time (default: the number of cores), starting from
# the checked-in seeds test/fuzz/corpus/<target>/ and growing a working corpus
# in build-fuzz/corpus/<target>/ (kept between runs, never written back to
# the source tree).  Prints executions per target and PASS/FAIL; exits 1
# when any target found a crash, a leak, undefined behaviour, a timeout or a
# broken property, with the input saved under build-fuzz/artifacts/<target>/.
#
# Known bugs, reported and not yet fixed in code test/fuzz does not own, are
# reported once per target and not failed on (fuzz.h FUZZ_KNOWN);
# KC_FUZZ_STRICT=1 test/fuzz/run.sh fails on them too, and
#   KC_FUZZ_STRICT=1 build-fuzz/test/fuzz/fuzz_<target> test/fuzz/corpus/<target>/regress-*
# reproduces each.
#
# Reproduce a finding:   build-fuzz/test/fuzz/fuzz_<target> ARTIFACT
# Keep a finding as a regression test: copy it into test/fuzz/corpus/<target>/
# (replayed by `ctest -L unit`: fuzz_replay_<target>) after fixing the bug.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-20}
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
targets=(${FUZZ_TARGETS:-kubeconfig yaml watch status items url exec rfc3339 discovery list headers incluster merge overrides})
jobs=${FUZZ_JOBS:-$(nproc)}
cc=${FUZZ_CC:-clang}

command -v "$cc" >/dev/null || { echo "fuzz: FAIL: $cc not found (scripts/install-deps.sh installs clang)"; exit 1; }
mkdir -p "$build"
echo "fuzz: building ${targets[*]} with $cc into $build"
if ! { CC=$cc cmake -S "$top" -B "$build" -G Ninja -DKC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 &&
	cmake --build "$build" --target $(printf 'fuzz_%s ' "${targets[@]}") >"$build/build.log" 2>&1; }; then
	cat "$build/configure.log" "$build/build.log" 2>/dev/null | tail -n 40
	echo "fuzz: FAIL: build"
	exit 1
fi
rm -f "$build/configure.log" "$build/build.log"

dict_of() {
	case $1 in
	kubeconfig | yaml | merge) echo "-dict=$here/dict/yaml.dict" ;;
	watch | status | items | exec | discovery | list | overrides) echo "-dict=$here/dict/json.dict" ;;
	headers | rfc3339 | incluster) echo "-dict=$here/dict/$1.dict" ;;
	esac
}

run_one() { # TARGET
	local t=$1 bin=$build/test/fuzz/fuzz_$1 log=$build/logs/$1.log
	mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs"
	# -timeout: one input may take at most 10 s; -rss_limit_mb: 2 GB.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		$(dict_of "$t") -artifact_prefix="$build/artifacts/$t/" \
		"$build/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
	echo $? >"$build/logs/$t.rc"
}

start=$SECONDS
running=0
for t in "${targets[@]}"; do
	rm -f "$build/logs/$t.rc"
	run_one "$t" &
	running=$((running + 1))
	if ((running >= jobs)); then
		wait -n
		running=$((running - 1))
	fi
done
wait

fail=0
printf '%-12s %12s %10s %8s %8s %s\n' target executions exec/s corpus cov result
for t in "${targets[@]}"; do
	log=$build/logs/$t.log
	rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo 1)
	execs=$(awk '/^stat::number_of_executed_units:/ {v = $2} END {print v}' "$log")
	rate=$(awk '/^stat::average_exec_per_sec:/ {v = $2} END {print v}' "$log")
	corpus=$(ls "$build/corpus/$t" | wc -l)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
	if [[ $rc == 0 ]]; then
		res=PASS
	else
		res=FAIL
		fail=1
	fi
	printf '%-12s %12s %10s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "${cov:-?}" "$res"
	if [[ $res == FAIL ]]; then
		echo "---- $t: last lines of $log ----"
		grep -E 'ERROR|SUMMARY|check failed|Test unit written|artifact' "$log" | head -n 20
		tail -n 30 "$log"
	fi
done
echo "fuzz: ${secs}s per target, ${jobs} at a time, $((SECONDS - start))s in all"
if ((fail)); then
	echo "fuzz: FAIL"
	exit 1
fi
echo "fuzz: PASS (${#targets[@]} targets)"
