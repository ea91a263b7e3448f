#!/usr/bin/env bash
# Configure and build into ${BUILD_DIR:-build} (Ninja, RelWithDebInfo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -G Ninja ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build"
