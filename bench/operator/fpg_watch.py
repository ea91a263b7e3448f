#!/usr/bin/env python3
"""fpg_watch.py - wait until N FederatedPodGroups meet a condition; say when.

  fpg_watch.py --cluster-dir DIR -n NS --count N --until applied|running
               [--placed P] [--running R] [--timeout SECONDS]

Lists, then watches, federation.kclient.io/v1alpha1 federatedpodgroups in
namespace NS of the local cluster in DIR (test/local-cluster: its port,
ca.crt and admin.token), with the standard library only.  Prints `watching`
on stdout once the watch is open, so the caller starts its clock after that;
then, when N objects meet the condition (or at the deadline), one JSON line:

  {"until": "applied", "count": N, "met": M, "done": EPOCH|null,
   "first": EPOCH, "p50": EPOCH, "p90": EPOCH, "events": E, "relists": K}

(EPOCH: time.time() when the event that made the first / 50 % / 90 % / all
objects meet it arrived).  Exit 0 when all N met it, 1 at the deadline.

  applied: status.placedClusters == P (default 2) and the condition
           Applied=True, observedGeneration == metadata.generation
  running: status.phase == Running, readyClusters == P and, with
           --running R, status.running == R
"""
import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import time

GROUP_PATH = "/apis/federation.kclient.io/v1alpha1"


def meets(obj, until, placed, running):
    st = obj.get("status") or {}
    if until == "applied":
        if st.get("placedClusters") != placed:
            return False
        if st.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
            return False
        return any(c.get("type") == "Applied" and c.get("status") == "True"
                   for c in st.get("conditions") or [])
    if st.get("phase") != "Running" or st.get("readyClusters") != placed:
        return False
    return running is None or st.get("running") == running


class Api:
    def __init__(self, cluster_dir):
        with open(os.path.join(cluster_dir, "port")) as f:
            self.port = int(f.read().strip())
        with open(os.path.join(cluster_dir, "admin.token")) as f:
            self.token = f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(cluster_dir, "ca.crt"))

    def get(self, path, timeout):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)
        conn.request("GET", path, headers={"Authorization": "Bearer " + self.token,
                                           "Accept": "application/json"})
        resp = conn.getresponse()
        return conn, resp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cluster-dir", required=True)
    ap.add_argument("-n", "--namespace", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--until", choices=["applied", "running"], required=True)
    ap.add_argument("--placed", type=int, default=2)
    ap.add_argument("--running", type=int)
    ap.add_argument("--timeout", type=float, default=180)
    a = ap.parse_args()

    api = Api(a.cluster_dir)
    deadline = time.time() + a.timeout
    coll = "%s/namespaces/%s/federatedpodgroups" % (GROUP_PATH, a.namespace)
    met_at = {}        # key -> time it (last) started to meet the condition
    events = relists = 0
    announced = False
    result = None

    def note(key, obj, now):
        ok = meets(obj, a.until, a.placed, a.running)
        if ok and key not in met_at:
            met_at[key] = now
        elif not ok and key in met_at:
            del met_at[key]

    def finished():
        return len(met_at) >= a.count

    rv = None
    while result is None:
        if rv is None:  # list (paged)
            relists += 1
            met_at.clear()
            cont = ""
            while True:
                path = coll + "?limit=500" + ("&continue=" + cont if cont else "")
                conn, resp = api.get(path, max(1.0, deadline - time.time()))
                body = resp.read()
                conn.close()
                if resp.status != 200:
                    sys.exit("fpg_watch: list: HTTP %d %s" % (resp.status, body[:200]))
                lst = json.loads(body)
                now = time.time()
                for o in lst.get("items") or []:
                    md = o["metadata"]
                    note(md["namespace"] + "/" + md["name"], o, now)
                cont = (lst.get("metadata") or {}).get("continue") or ""
                if not cont:
                    rv = lst["metadata"]["resourceVersion"]
                    break
            if finished():
                break
        remaining = deadline - time.time()
        if remaining <= 0:
            break
        path = (coll + "?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%d"
                % (rv, max(1, int(remaining) + 5)))
        try:
            conn, resp = api.get(path, remaining)
            if resp.status != 200:
                body = resp.read()
                conn.close()
                if resp.status == 410:
                    rv = None
                    continue
                sys.exit("fpg_watch: watch: HTTP %d %s" % (resp.status, body[:200]))
            if not announced:
                print("watching", flush=True)
                announced = True
            while True:
                line = resp.readline()
                if not line:
                    break  # the server ended the watch: resume from rv
                ev = json.loads(line)
                now = time.time()
                typ, obj = ev.get("type"), ev.get("object") or {}
                md = obj.get("metadata") or {}
                if typ == "ERROR":
                    if obj.get("code") == 410:
                        rv = None
                    break
                if md.get("resourceVersion"):
                    rv = md["resourceVersion"]
                if typ == "BOOKMARK":
                    continue
                events += 1
                key = md.get("namespace", "") + "/" + md.get("name", "")
                if typ == "DELETED":
                    met_at.pop(key, None)
                else:
                    note(key, obj, now)
                if finished():
                    break
            conn.close()
            if finished():
                break
        except (socket.timeout, TimeoutError):
            break
        except (ConnectionError, http.client.HTTPException, ssl.SSLError) as e:
            print("fpg_watch: watch dropped (%s), resuming" % e, file=sys.stderr)
            time.sleep(0.2)

    if not announced:
        print("watching", flush=True)
    # Times in order of reaching k objects met (objects that dropped out and
    # came back count at their latest time: use the sorted current set).
    times = sorted(met_at.values())
    def at(frac):
        k = max(1, int(round(frac * a.count)))
        return times[k - 1] if len(times) >= k else None
    out = {"until": a.until, "count": a.count, "met": len(met_at),
           "done": times[a.count - 1] if len(times) >= a.count else None,
           "first": times[0] if times else None, "p50": at(0.5), "p90": at(0.9),
           "events": events, "relists": relists}
    print(json.dumps(out), flush=True)
    return 0 if out["done"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
