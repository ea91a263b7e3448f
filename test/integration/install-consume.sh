#!/usr/bin/env bash
# Install kclient to a scratch prefix and build examples/hello against it
# twice (pkg-config, and CMake's find_package), then run both against the
# local control plane.
set -euo pipefail
build=$1 src=$2 cluster=$3
prefix=$(mktemp -d /tmp/kclient-prefix.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/kclient/kclient.h"
test -f "$prefix/lib/pkgconfig/kclient.pc" || test -f "$prefix/lib/x86_64-linux-gnu/pkgconfig/kclient.pc"
pcdir=$(dirname "$(find "$prefix" -name kclient.pc | head -1)")
libdir=$(dirname "$pcdir")
# 1. pkg-config
export PKG_CONFIG_PATH=$pcdir
cc -Wall -Wextra -Werror -o "$prefix/hello-pc" "$src/examples/hello/hello.c" \
	$(pkg-config --cflags --libs kclient)
LD_LIBRARY_PATH=$libdir "$prefix/hello-pc" --kubeconfig "$cluster/kubeconfig" | tee "$prefix/out1"
grep -q 'demo-2     phase=Running running=3' "$prefix/out1"
# 2. find_package(kclient)
cmake -S "$src/examples/hello" -B "$prefix/hb" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/hb" >/dev/null
LD_LIBRARY_PATH=$libdir "$prefix/hb/kclient-hello" --kubeconfig "$cluster/kubeconfig" | grep -q '"podgroups.scheduling.x-k8s.io" is podgroups.scheduling.x-k8s.io/v1alpha1 (kind PodGroup, status subresource: yes)'
echo "install_and_consume: ok (pkg-config and find_package)"
