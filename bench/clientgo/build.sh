#!/usr/bin/env bash
# Build the client-go peers into bench/clientgo/.bin/ (patchstatus, informer,
# watchdecode).  First run resolves modules (warm cache from
# test/localcluster: same k8s.io versions) and compiles client-go: ~1-2 min.
set -euo pipefail
cd "$(dirname "$0")"
[ -f go.sum ] || go mod tidy
mkdir -p .bin
for p in patchstatus informer watchdecode; do
	go build -o .bin/$p ./$p
done
