#!/usr/bin/env bash
# Run every test: unit suites, then the integration, end-to-end and soak
# suites against real local control planes (started and stopped by CTest
# fixtures), then the reliability checks (scripts/reliability.sh: static
# analysis, fuzzing, ThreadSanitizer, valgrind, ASan/UBSan over the suites).
# This is what CI runs (.ci/run).  RELIABILITY=0 skips the reliability
# checks for a quicker local run; docs/reliability.md has their times.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/test/local-cluster" build
"$top/scripts/build.sh"
build=${BUILD_DIR:-$top/build}
cd "$build"
ctest --output-on-failure -j2 ${CTEST_ARGS:-}
if [[ ${RELIABILITY:-1} != 0 ]]; then
	"$top/scripts/reliability.sh"
fi
