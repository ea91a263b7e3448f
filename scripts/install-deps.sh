#!/usr/bin/env bash
# Install what kclient needs on Debian 12 (apt) and check the Go toolchain.
# Idempotent: does nothing when everything is there.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git
      libcurl4-openssl-dev libcjson-dev libyaml-dev libssl-dev check libmicrohttpd-dev
      valgrind openssl curl time jq nghttp2-client nghttp2-server
      clang libclang-rt-14-dev clang-tidy cppcheck strace procps)
# clang + libclang-rt-14-dev (libFuzzer and clang's sanitizer runtimes; only a
# "Recommends" of clang, so named here), clang-tidy, cppcheck and valgrind
# serve scripts/reliability.sh.  strace and procps (pgrep): test_secrets.sh,
# which traces the operator to show that it writes no file.
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "install-deps: Go (1.24 or newer) is required for the local control plane" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "install-deps: kubectl is required (tests apply CRDs with it)" >&2; exit 1; }
