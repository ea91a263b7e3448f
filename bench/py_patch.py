#!/usr/bin/env python3
"""Python peer of the patch benchmark: the official `kubernetes` client.

    py_patch.py --kubeconfig FILE -n NS [--prefix pg-] [--patch JSON] N

Patches the status of PodGroups PREFIX0..PREFIX(N-1) one after another with
CustomObjectsApi.patch_namespaced_custom_object_status (merge patch, the
usual way a Python operator does it: one synchronous call per object).
Prints one JSON line: start-up seconds (import + config), loop wall seconds,
seconds per item, process CPU seconds and peak RSS.
"""
import argparse
import json
import resource
import sys
import time

t_start = time.monotonic()
from kubernetes import client, config  # noqa: E402  (import cost is measured)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("-n", dest="namespace", required=True)
    ap.add_argument("--prefix", default="pg-")
    ap.add_argument("--patch", default='{"status":{"phase":"Running","running":1}}')
    ap.add_argument("count", type=int)
    a = ap.parse_args()
    body = json.loads(a.patch)
    api_client = config.new_client_from_config(config_file=a.kubeconfig)
    api = client.CustomObjectsApi(api_client)
    startup = time.monotonic() - t_start
    ok = failed = 0
    first_error = None
    t0 = time.monotonic()
    for i in range(a.count):
        try:
            api.patch_namespaced_custom_object_status(
                "scheduling.x-k8s.io", "v1alpha1", a.namespace, "podgroups",
                f"{a.prefix}{i}", body, _content_type="application/merge-patch+json")
            ok += 1
        except client.ApiException as e:  # report, go on
            failed += 1
            first_error = first_error or f"{a.prefix}{i}: HTTP {e.status} {e.reason}"
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    if first_error:
        print(f"py_patch: {failed} failed, first: {first_error}", file=sys.stderr)
    print(json.dumps({
        "client": "python", "n": a.count, "concurrency": 1, "ok": ok, "failed": failed,
        "startup_s": round(startup, 4), "wall_s": round(wall, 4),
        "per_item_s": wall / a.count, "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_kib": ru.ru_maxrss}))


if __name__ == "__main__":
    main()
