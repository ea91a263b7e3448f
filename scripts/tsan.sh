#!/usr/bin/env bash
# ThreadSanitizer over the code that has threads: the operator's HTTP server
# (operator/httpd.c: libmicrohttpd's polling thread reads the snapshot the
# main thread publishes under a mutex) and its logger, through the unit test
# test_operator_support.  The library itself starts no threads.
#
#   scripts/tsan.sh                (TSAN_CC=gcc to use gcc; clang by default)
#
# A small separate build in build-tsan/ (TSAN_BUILD_DIR) with -DKC_TSAN=ON;
# the test runs twice: as ctest runs it (check forks a child per test) and
# with CK_FORK=no (every test in one process, so the server threads of all
# tests share one history).  halt_on_error: the first report fails the run.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${TSAN_BUILD_DIR:-$top/build-tsan}
cc=${TSAN_CC:-clang}
t0=$SECONDS
command -v "$cc" >/dev/null || { echo "tsan: FAIL: $cc not found"; exit 1; }
mkdir -p "$build"
echo "tsan: building test_operator_support with $cc -fsanitize=thread into $build"
if ! { CC=$cc cmake -S "$top" -B "$build" -G Ninja -DKC_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	>"$build/configure.log" 2>&1 &&
	cmake --build "$build" --target test_operator_support >"$build/build.log" 2>&1; }; then
	tail -n 40 "$build/configure.log" "$build/build.log" 2>/dev/null
	echo "tsan: FAIL: build"
	exit 1
fi
rm -f "$build/configure.log" "$build/build.log"

reports=$build/tsan-reports
rm -rf "$reports"
mkdir -p "$reports"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:log_path=$reports/tsan"
fail=0
for mode in fork no; do
	if CK_FORK=$mode "$build/test/test_operator_support" >"$build/tsan-$mode.log" 2>&1; then
		echo "tsan: CK_FORK=$mode: $(grep -E '^[0-9]+%: Checks' "$build/tsan-$mode.log")"
	else
		echo "tsan: CK_FORK=$mode: test failed"
		tail -n 30 "$build/tsan-$mode.log"
		fail=1
	fi
done
nreports=$(find "$reports" -type f | wc -l)
if ((nreports)); then
	for f in "$reports"/*; do
		echo "==== $f"
		head -n 80 "$f"
	done
fi
if ((fail || nreports)); then
	echo "tsan: FAIL ($nreports reports) after $((SECONDS - t0))s"
	exit 1
fi
echo "tsan: PASS (test_operator_support, forked and in one process; 0 reports) in $((SECONDS - t0))s"
