#!/usr/bin/env bash
# Run every test: unit suites, then the integration, end-to-end and soak
# suites against real local control planes (started and stopped by CTest
# fixtures).  RELIABILITY=1 adds the long reliability checks
# (scripts/reliability.sh: static analysis, fuzzing, ThreadSanitizer,
# valgrind, ASan/UBSan over the suites), which are not yet part of CI: see
# docs/reliability.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/test/local-cluster" build
"$top/scripts/build.sh"
build=${BUILD_DIR:-$top/build}
cd "$build"
ctest --output-on-failure -j2 ${CTEST_ARGS:-}
if [[ ${RELIABILITY:-0} == 1 ]]; then
	"$top/scripts/reliability.sh"
fi
