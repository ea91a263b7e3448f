#!/usr/bin/env bash
# test/soak/soak.sh - chaos soak of the federation operator (kclient-operator).
#
#   test/soak/soak.sh [--duration SECONDS] [--seed N] [--fpgs N] [--keep] [--help]
#
# CI runs the short version (--duration 180, label "soak" in CTest); run a
# long one by hand, e.g. --duration 3600.  The driver is soak.py next to this
# script; see test/soak/README.md.  BUILD_DIR (default <repo>/build) is where
# kclient-operator was built.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 -u "$here/soak.py" "$@"
