#!/usr/bin/env bash
# Run every test: unit suites, then the integration suites against real local
# control planes (started and stopped by CTest fixtures).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/test/local-cluster" build
"$top/scripts/build.sh"
build=${BUILD_DIR:-$top/build}
cd "$build"
ctest --output-on-failure -j2 ${CTEST_ARGS:-}
