#!/usr/bin/env python3
"""Chaos soak of kclient's federation operator (kclient-operator).

A hub and three member control planes (test/local-cluster), one TCP fault
proxy (test/fault-proxy) in front of each member, two operator replicas run
in-cluster style with leader election and deploy/'s RBAC.  While FederatedPod-
Groups are created, changed and deleted on the hub and member "schedulers"
churn the member PodGroup statuses, faults are injected at random (seeded):
link cuts, black holes, latency and resets; member and hub control-plane
restarts; SIGKILL of the leading replica; compaction (410 Gone) and 429 storms.
Then faults stop, the federation must converge, and invariants are checked.
See README.md next to this file.
"""

import argparse
import base64
import collections
import datetime
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request

import soak_checks as sc

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(TOP, "build")
OPERATOR = os.path.join(BUILD_DIR, "operator", "kclient-operator")
LOCAL_CLUSTER = os.path.join(TOP, "test", "local-cluster")
FAULT_PROXY = os.path.join(TOP, "test", "fault-proxy")

FED = "/apis/federation.kclient.io/v1alpha1"
MANAGED_BY = "federation.kclient.io/managed-by"
LABEL_NS = "federation.kclient.io/fpg-namespace"
LABEL_NAME = "federation.kclient.io/fpg-name"
LABEL_CLUSTER = "federation.kclient.io/cluster"
ANN_UID = "federation.kclient.io/hub-uid"
ANN_GEN = "federation.kclient.io/hub-generation"
FINALIZER = "federation.kclient.io/cleanup"
OVERRIDE_LABEL = "soak-override"
NAMESPACES = ["soak-%d" % i for i in range(5)]

# The members: placement labels, PodGroup flavour, apiserver flags kept across
# restarts.  m3 runs without the watch cache so that compaction gives 410.
MEMBERS = {
    "m1": {"labels": {"region": "r1", "zone": "a"}, "api": "Coscheduling", "flags": []},
    "m2": {"labels": {"region": "r2", "zone": "a"}, "api": "Volcano", "flags": []},
    "m3": {"labels": {"region": "r3", "zone": "b"}, "api": "Coscheduling", "flags": ["--watch-cache=false"]},
}
REGIONS = ["r1", "r2", "r3"]
PHASES = {
    "Coscheduling": ["Pending", "Running", "Running", "Scheduling", "Unknown", "Finished", "Failed"],
    "Volcano": ["Pending", "Running", "Running", "Inqueue", "Unknown", "Completed"],
}
THROTTLE_FLAGS = ["--max-requests-inflight=1", "--max-mutating-requests-inflight=1"]

# Fault kinds and their weights after each kind has run once.
FAULT_WEIGHTS = collections.OrderedDict([
    ("link-cut", 3.0), ("link-blackhole", 3.0), ("link-latency", 2.0), ("link-reset", 2.0),
    ("member-restart", 2.0), ("hub-restart", 1.0), ("leader-kill", 1.5), ("compaction", 1.0),
    ("throttle-429", 1.0),
    # member lifecycle (docs/member-lifecycle.md): long, so rare after their first run
    ("member-remove-rejoin", 0.5), ("member-force-leave", 0.3), ("member-rename", 0.3),
    ("secret-broken", 0.8), ("member-hang", 1.0),
])
MEMBER_FAULTS = ("member-restart", "throttle-429", "member-remove-rejoin", "member-force-leave", "member-rename",
                 "secret-broken", "member-hang")
# Seconds of the run a fault needs left to be planned (it may overrun the end:
# the soak waits for every fault to undo itself before settling).
FAULT_ROOM = {"throttle-429": 45, "member-restart": 25, "hub-restart": 25, "member-remove-rejoin": 45,
              "member-force-leave": 60, "member-rename": 55, "secret-broken": 35, "member-hang": 30}

LIFECYCLE_FAULTS = {"member-remove-rejoin": "fault_remove_rejoin", "member-force-leave": "fault_force_leave",
                    "member-rename": "fault_rename", "secret-broken": "fault_secret_broken",
                    "member-hang": "fault_hang"}
MC_FINALIZER = "federation.kclient.io/member-cleanup"
ANN_FORCE_LEAVE = "federation.kclient.io/force-leave"
# While a member is Ready=Unknown its status entries must say stale: true
# within this long of the soak first seeing Unknown (the operator's hub
# status writes are batched and spread).
STALE_GRACE = 10.0
STALE_FIELDS = ("memberPhase", "running", "succeeded", "failed", "appliedGeneration")

# A member copy may be deleted by a placement change the operator saw late:
# how long an older placement may still be acted on (informer lag under faults).
PLACEMENT_LAG = 90.0

# The status flow (invariant (c), README "What it checks"): member status
# values followed to the hub one by one.  The operator runs with this
# --status-batch-interval; a value the member held for at least the batch
# interval plus REQUIRED_MARGIN (outside fault windows extended by FAULT_TAIL)
# must reach the hub entry; latency bounds asserted: p99 outside faults and
# max everywhere (from when the member was reachable again).
STATUS_BATCH_S = 0.1
REQUIRED_MARGIN = 3.0
FAULT_TAIL = 10.0
LATENCY_P99_NO_FAULT = 8.0
LATENCY_MAX = 15.0
# Convergence after the last fault (settle), asserted.
CONVERGE_BOUND = 60.0
# One writer (invariant (d)): a deposed leader writes until its renew
# deadline after its last renewal; TERM_SLACK for scheduling and the wire.
TERM_SLACK = 1.0
SA_USER = "system:serviceaccount:kclient-system:kclient-operator"
# HTTP/2 GOAWAY: kube-apiserver's --goaway-chance on these control planes.
GOAWAY_CHANCE = 0.02
GOAWAY_CLUSTERS = ("hub", "m1")
GOAWAY_PROBES = 400       # curl's requests per control plane: P(no GOAWAY at 2%) = 0.03 %
# A fault must show it bit within this long after its end.
BITE_WINDOW = 20.0

CRASH_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|"
                      r"runtime error:|Assertion .*failed|assertion failed|Segmentation fault|"
                      r"double free|free\(\): |malloc\(\): |corrupted|stack smashing|"
                      r"terminate called|core dumped")

T0 = time.time()
_log_lock = threading.Lock()
_log_file = None


def log(msg):
    line = "[%7.1fs] %s" % (time.time() - T0, msg)
    with _log_lock:
        print(line, flush=True)
        if _log_file:
            _log_file.write(line + "\n")
            _log_file.flush()


class HarnessError(Exception):
    """The soak itself could not do its job (not an operator failure)."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_ts(s):
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            pass
    return 0.0


def pg_base(api):
    return "/apis/scheduling.volcano.sh/v1beta1" if api == "Volcano" else "/apis/scheduling.x-k8s.io/v1alpha1"


# --- REST -----------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status, msg, unsent=False):
        super().__init__("%s: %s" % (status or "transport", msg))
        self.status = status
        self.msg = msg
        self.unsent = unsent   # the connection was refused: nothing reached the server


class Api:
    """Minimal Kubernetes REST client: bearer token, cluster CA, one
    keep-alive connection per thread."""

    def __init__(self, port, token, cafile, timeout=10.0):
        self.port = port
        self.token = token
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.timeout = timeout
        self.tl = threading.local()

    def request(self, method, path, body=None, ctype="application/json", audit_id=None):
        """audit_id: sent as Audit-ID, which kube-apiserver keeps as the
        request's auditID: the audit log then says what became of it."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if audit_id:
            headers["Audit-ID"] = audit_id
        if body is not None:
            headers["Content-Type"] = ctype
        maybe_sent = False
        for attempt in (1, 2):
            conn = getattr(self.tl, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=self.timeout)
                self.tl.conn = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self.tl.conn = None
                if reused and attempt == 1:
                    maybe_sent = True
                    continue  # a keep-alive connection the server closed meanwhile
                raise ApiError(0, "%s: %s" % (type(e).__name__, e),
                               unsent=isinstance(e, ConnectionRefusedError) and not maybe_sent) from None
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            obj = None
        if resp.status >= 300:
            msg = obj.get("message") if isinstance(obj, dict) else raw[:200].decode(errors="replace")
            raise ApiError(resp.status, msg)
        return obj

    def get(self, path):
        return self.request("GET", path)


def refused(e):
    """The server answered and did not apply the request, or never got it
    (connection refused); the outcome of any other transport error, 500 or
    504 is not known."""
    return isinstance(e, ApiError) and ((bool(e.status) and (400 <= e.status < 500 or e.status == 503)) or e.unsent)


def err_class(e):
    if isinstance(e, ApiError):
        return "HTTP %d" % e.status if e.status else "transport (%s)" % e.msg.split(":")[0]
    return type(e).__name__


# --- the control planes, proxies, replicas -----------------------------------

class Cluster:
    def __init__(self, work, name, flags):
        self.name = name
        self.dir = os.path.join(work, name)
        self.base_flags = list(flags)
        self.port = None
        self.lock = threading.Lock()   # one fault at a time per control plane
        self.up = threading.Event()
        self.restarts = 0
        self.extra = []               # flags added for a fault (throttle)
        self._admin = None

    def start(self, extra=()):
        args = [LOCAL_CLUSTER, "start", self.dir]
        if self.port:
            args += ["--port", str(self.port)]  # kubeconfigs and proxies keep working
        args += self.base_flags + list(extra)
        for attempt in (1, 2):
            r = subprocess.run(args, capture_output=True, text=True)
            if r.returncode == 0:
                break
            log("local-cluster start %s failed (attempt %d): %s" % (self.name, attempt, (r.stdout + r.stderr)[-2000:]))
        else:
            raise HarnessError("cannot start control plane %s" % self.name)
        with open(os.path.join(self.dir, "port")) as f:
            self.port = int(f.read().strip())
        self.extra = list(extra)
        self.up.set()

    def stop(self, timeout_s=None):
        self.up.clear()
        env = dict(os.environ)
        if timeout_s:
            env["LOCAL_CLUSTER_STOP_TIMEOUT"] = str(timeout_s)
        subprocess.run([LOCAL_CLUSTER, "stop", self.dir], capture_output=True, text=True, env=env)

    def restart(self, down_s, extra=(), abort=None):
        # SIGTERM, then SIGKILL after 3s: with watches open the apiserver
        # does not finish draining within local-cluster's 15s anyway.
        self.stop(timeout_s=3)
        if down_s > 0:
            (abort.wait(down_s) if abort else time.sleep(down_s))
        self.start(extra)
        self.restarts += 1

    @property
    def admin(self):
        if not self._admin:
            with open(os.path.join(self.dir, "admin.token")) as f:
                token = f.read().strip()
            self._admin = Api(self.port, token, os.path.join(self.dir, "ca.crt"))
        return self._admin

    def kubectl(self, *args, check=True, input=None):
        r = subprocess.run(["kubectl", "--kubeconfig", os.path.join(self.dir, "kubeconfig")] + list(args),
                           capture_output=True, text=True, input=input)
        if check and r.returncode:
            raise HarnessError("kubectl %s on %s: %s" % (" ".join(args), self.name, r.stderr.strip()))
        return r.stdout


class Proxy:
    def __init__(self, work, name, upstream_port):
        self.name = name
        pf = os.path.join(work, "proxy-%s.ports" % name)
        self.logf = open(os.path.join(work, "proxy-%s.log" % name), "wb")
        self.proc = subprocess.Popen([FAULT_PROXY, "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:%d" % upstream_port,
                                      "--control", "127.0.0.1:0", "--port-file", pf],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        end = time.time() + 120
        while not os.path.exists(pf):
            if self.proc.poll() is not None or time.time() > end:
                raise HarnessError("fault proxy for %s did not start" % name)
            time.sleep(0.1)
        ports = dict(line.strip().split("=", 1) for line in open(pf) if "=" in line)
        self.listen = int(ports["listen"])
        self.control = int(ports["control"])

    def ctl(self, query):
        for attempt in range(5):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (self.control, query), timeout=5) as r:
                    return json.loads(r.read())
            except OSError as e:
                last = e
                time.sleep(0.2)
        raise HarnessError("fault proxy %s control %s: %s" % (self.name, query, last))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Replica:
    def __init__(self, name, proc, logpath, probe, metrics):
        self.name = name
        self.proc = proc
        self.log = logpath
        self.probe = probe
        self.metrics = metrics
        self.killed = False   # SIGKILL sent by the soak
        self.termed = False   # SIGTERM sent by the soak
        self.exit = None
        self.outcome = None
        self.started = time.time()
        self.metrics_text = ""

    def alive(self):
        return self.exit is None and self.proc.poll() is None

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.probe, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False


# --- placement (the CRD's documented semantics) -----------------------------

def selector_matches(sel, labels):
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        key, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        have = labels.get(key)
        if op == "Exists" and have is None:
            return False
        if op == "DoesNotExist" and have is not None:
            return False
        if op == "In" and have not in vals:
            return False
        if op == "NotIn" and have in vals:
            return False
    return True


def placed_set(spec, member_labels):
    pl = (spec or {}).get("placement") or {}
    out = set(n for n in pl.get("clusterNames") or [] if n in member_labels)
    sel = pl.get("clusterSelector")
    if sel is not None:  # absent selects nothing, {} selects all
        out |= set(m for m, labels in member_labels.items() if selector_matches(sel, labels))
    return out


def random_placement(rng, members):
    """members: the names to pick clusterNames from (the members' own names,
    and the MemberCluster names that serve them now, after a rename)."""
    kind = rng.choices(["names", "in", "labels", "notin", "all", "exists", "both", "none"],
                       [4, 4, 2, 2, 1, 1, 2, 0.4])[0]
    if kind == "names":
        return {"clusterNames": sorted(rng.sample(members, rng.randint(1, 3)))}
    if kind == "in":
        return {"clusterSelector": {"matchExpressions": [
            {"key": "region", "operator": "In", "values": sorted(rng.sample(REGIONS, rng.randint(1, 3)))}]}}
    if kind == "labels":
        return {"clusterSelector": {"matchLabels": {"zone": rng.choice(["a", "b"])}}}
    if kind == "notin":
        return {"clusterSelector": {"matchExpressions": [
            {"key": "region", "operator": "NotIn", "values": [rng.choice(REGIONS)]}]}}
    if kind == "all":
        return {"clusterSelector": {}}
    if kind == "exists":
        return {"clusterSelector": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}
    if kind == "both":
        return {"clusterNames": [rng.choice(members)], "clusterSelector": {"matchLabels": {"zone": rng.choice(["a", "b"])}}}
    return {}  # placed nowhere


def normal_phase(p):
    if not p or p in ("Pending", "Unknown"):
        return "pending"
    if p == "Running":
        return "running"
    if p in ("Finished", "Completed"):
        return "completed"
    if p == "Failed":
        return "failed"
    return "scheduling"


class Fpg:
    """The driver's record of one FederatedPodGroup: everything it asked for,
    and what became of each request."""

    def __init__(self, ns, name, spec, placed):
        self.ns = ns
        self.name = name
        self.spec = spec
        self.policy = spec["deletionPolicy"]
        self.pl = spec.get("placement") or {}   # the placement last sent (not refused)
        self.placed = placed      # members (physical) it was placed on when last sent
        self.state = "creating"   # live | uncertain | absent | deleted
        # every request sent: {"t": sent, "ta": answered, "kind", "pl": placement
        # sent or None, "aid": its Audit-ID, "res": pending | ok | maybe |
        # refused, "ts": when the hub received it (its audit log), "code"}.
        # Which members a placement selects also depends on the MemberCluster
        # that serves each member at the time (Soak.placed_on).
        self.attempts = []
        self.deleted = False      # a delete was answered (2xx or 404)

    @property
    def history(self):
        """[(t, kind, placement)]: the writes the hub confirmed (a 2xx answer,
        or its audit log for a request whose answer was lost), at the time the
        hub received them (else the time of the answer); nothing else."""
        out = [(a["ts"] or a["ta"], a["kind"], a["pl"]) for a in self.attempts
               if a["res"] == "ok" or (a["res"] == "maybe" and a["ts"] is not None and 200 <= (a["code"] or 0) < 300)]
        return sorted(out, key=lambda x: x[0])

    def touched(self):
        """[(t sent, kind, placement)] of every request that may have been
        applied (all but the refused): for the lenient checks."""
        return [(a["t"], a["kind"], a["pl"]) for a in self.attempts if a["res"] != "refused"]

    @property
    def delete_sent(self):
        return any(kind == "delete" for _, kind, _ in self.touched())


# --- the soak ---------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.a = args
        self.seed = args.seed
        self.work = args.workdir
        self.stop_load = threading.Event()
        self.stop_faults = threading.Event()
        self.stopping_ops = False
        self.lock = threading.RLock()
        self.violations = []
        self.harness_errors = []
        self.clusters = {}
        self.proxies = {}
        self.replicas = []
        self.replica_seq = 0
        self.next_replica_at = 0.0
        self.fpgs = {}
        self.next_index = 0
        self.counts = collections.Counter()
        self.op_errors = collections.Counter()
        self.status_changes = collections.Counter()
        self.faults_done = collections.Counter()
        self.faults_skipped = collections.Counter()
        self.fault_timeline = []   # (start, end, kind, target)
        self.deletions = []        # audit: member copies deleted
        self.creations = collections.defaultdict(list)  # (member, ns, name) -> times the apiserver created a copy
        self.audit_procs = {}
        self.audit_stop = threading.Event()
        self.threads = []
        self.compactions = 0
        self.t_soak_start = None
        self.t_soak_end = None
        self.t_quiet = None
        self.t_converged = None
        self.t_last_fault = None
        self.why_deleted = collections.Counter()
        self.hub_latency = []
        self.actions = open(os.path.join(self.work, "actions.jsonl"), "a")
        self.op_lock = threading.Lock()
        # membership: which MemberCluster serves each member (physical
        # cluster) now, None while it has none (removed), and since when a
        # member's placement is decided by which name (a rename)
        self.serving = {m: m for m in MEMBERS}
        self.mc_secret = {m: "member-" + m for m in MEMBERS}
        self.name_timeline = {m: [(0.0, m)] for m in MEMBERS}
        self.removals = []        # [member, MemberCluster, t delete sent, t gone]: the leave may delete Delete copies
        self.no_mc = []           # [member, MemberCluster, t gone, t registered again]: nothing may write to it
        self.dup_windows = []     # [member, old name, duplicate name, t created, t old deleted]
        self.broken_windows = []  # [member, MemberCluster, t KubeconfigInvalid seen, t Secret fixed]
        self.expect_released = [] # (member, key, uid): Orphan strays that must stay, labels removed
        self.expect_gone = []     # (member, key, uid): Delete strays that must go
        self.hung = {}            # member -> pid stopped with SIGSTOP
        self.stale_pending = []   # stale episodes over, some changes still to compare
        self.member_writes = collections.defaultdict(list)  # member -> (t, verb, ns, name, code, user agent) by writer
        self.lifecycle = collections.Counter()   # figures of the lifecycle faults
        self.stale_stats = collections.Counter()
        self.stop_monitor = threading.Event()
        self.fault_rng = random.Random(self.seed * 1000 + 7)
        self.last_mcs = {}
        self.status_log = collections.defaultdict(list)  # (member, ns, name) -> (t, status values) the member load set
        # the status flow: the member load's writes (t sent, t answered, rv,
        # uid, value), the soak's watch of each member (t seen, rv, uid, value
        # or None), the hub entries as the soak's hub watch saw them
        self.status_writes = collections.defaultdict(list)
        self.member_events = collections.defaultdict(list)
        self.hub_entries = sc.HubEntries()
        self.hub_watch_gaps = []      # [t watch ended, t listed again]
        self.hub_watch_stop = threading.Event()
        self.flow = {}                # results of the status-flow check, for the figures
        self.t_flow_end = None
        self.t_no_writer = 0.0       # last time the soak saw no leader renewing, or the hub not answering
        self.plan = []
        self.goaway = {}
        self.goaway_probes = {}
        self.op_conns = None
        # hub writes of the load, by Audit-ID; the hub audit log as read so far
        self.aid_seq = 0
        self.attempt_by_aid = {}
        self.hub_audit_pos = 0
        self.hub_audit_events = 0
        self.hub_audit_soak = {}      # Audit-ID -> [(t received, code)]
        self.lease_writes = []        # (t received, t done, identity, holder, acquire, its time)
        self.op_hub_writes = []       # (t received, user agent, what)
        self.lease_samples = []       # (t, holder, acquire, its time, renew time) read by the soak
        self.terms = []
        self.writer_stats = collections.Counter()
        # evidence that each fault bit
        self.mc_ready_log = collections.defaultdict(list)   # MemberCluster -> [(t, Ready, reason)] changes
        self.metric_series = []       # (t, replica, {(target, code): count})
        self.fault_evidence = {}      # id(timeline entry) -> {...} recorded while injecting
        self.bites = collections.Counter()
        self.closes = None            # sc.ServerCloses over the control planes' ports
        self.member_reads = collections.defaultdict(list)   # member -> (t, verb, resource, code) by writer
        self.audit_counts = {}
        self.attempt_outcomes = collections.Counter()

    # -- infrastructure --

    def bg(self, name, fn, *args):
        def run():
            try:
                fn(*args)
            except HarnessError as e:
                log("HARNESS ERROR in %s: %s" % (name, e))
                with self.lock:
                    self.harness_errors.append("%s: %s" % (name, e))
            except Exception:
                tb = traceback.format_exc()
                log("HARNESS ERROR in %s:\n%s" % (name, tb))
                with self.lock:
                    self.harness_errors.append("%s: %s" % (name, tb.strip().splitlines()[-1]))
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def violation(self, msg):
        with self.lock:
            self.violations.append(msg)
        log("VIOLATION: " + msg)

    def setup(self):
        log("work directory %s, operator %s" % (self.work, OPERATOR))
        if not os.access(OPERATOR, os.X_OK):
            raise HarnessError("no operator binary at %s (build first, or set BUILD_DIR)" % OPERATOR)
        # the apiservers' audit logs: the hub records every write of the
        # objects the operator manages and of its Lease (who wrote, when, with
        # which user agent; the Lease's holder in the answer), members every
        # PodGroup write and every read by the operator's user `writer`
        # (429s, the relist after a compaction)
        writes = "[create, update, patch, delete, deletecollection]"

        def audit_flags(name, rules):
            policy = os.path.join(self.work, "audit-policy-%s.yaml" % name)
            text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n"
            for level, verbs, resources, users in rules:
                text += "- level: %s\n  verbs: %s\n" % (level, verbs)
                if users:
                    text += "  users: [%s]\n" % ", ".join(users)
                if resources:
                    text += "  resources:\n" + "".join("  - {group: %s, resources: [%s]}\n" % r for r in resources)
            with open(policy, "w") as f:
                f.write(text + "- level: None\n")
            return ["--audit-log-path=%s" % os.path.join(self.work, name, "audit.log"), "--audit-policy-file=%s" % policy]

        def goaway(name):
            return ["--goaway-chance=%g" % GOAWAY_CHANCE] if name in GOAWAY_CLUSTERS else []
        self.hub = Cluster(self.work, "hub", goaway("hub") + audit_flags("hub", [
            ("RequestResponse", "[create, update, patch, delete]", [("coordination.k8s.io", "leases")], None),
            ("Metadata", writes, [("federation.kclient.io", "federatedpodgroups/status")], None),
            ("RequestResponse", writes, [("federation.kclient.io", "federatedpodgroups, memberclusters, "
                                                                   "memberclusters/status")], None)]))
        self.clusters["hub"] = self.hub
        pg_groups = [("scheduling.x-k8s.io", "podgroups"), ("scheduling.volcano.sh", "podgroups")]
        for m, d in MEMBERS.items():
            self.clusters[m] = Cluster(self.work, m, d["flags"] + goaway(m) + audit_flags(m, [
                ("RequestResponse", writes, pg_groups, None),
                ("Metadata", "[get, list, watch]", None, ["writer"])]))
        log("starting hub and members %s" % ", ".join(MEMBERS))
        self.parallel([lambda c=c: self.cluster_up(c) for c in self.clusters.values()])
        for m in MEMBERS:
            self.proxies[m] = Proxy(self.work, m, self.clusters[m].port)
        log("control planes: %s; proxies: %s" % (
            ", ".join("%s :%d" % (c.name, c.port) for c in self.clusters.values()),
            ", ".join("%s :%d (control :%d)" % (m, p.listen, p.control) for m, p in self.proxies.items())))
        hub = self.hub
        hub.kubectl("apply", "-f", os.path.join(TOP, "deploy", "namespace.yaml"), "-f",
                    os.path.join(TOP, "deploy", "serviceaccount.yaml"), "-f", os.path.join(TOP, "deploy", "rbac.yaml"))
        self.sa = os.path.join(self.work, "serviceaccount")
        os.makedirs(self.sa, exist_ok=True)
        token_s = max(7200, int(self.a.duration) + 3600)
        with open(os.path.join(self.sa, "token"), "w") as f:
            f.write(hub.kubectl("-n", "kclient-system", "create", "token", "kclient-operator", "--duration", "%ds" % token_s).strip())
        shutil.copy(os.path.join(hub.dir, "ca.crt"), os.path.join(self.sa, "ca.crt"))
        with open(os.path.join(self.sa, "namespace"), "w") as f:
            f.write("kclient-system")
        for ns in NAMESPACES:
            hub.admin.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        for m, d in MEMBERS.items():
            self.register_member(m, d)
        log("starting two operator replicas")
        self.start_replica()
        self.wait_for(60, "a replica holds the lease", lambda: self.leader() is not None)
        self.start_replica()
        self.bg("supervisor", self.supervise)
        self.bg("metrics", self.scrape_metrics)
        self.wait_for(60, "both replicas ready", lambda: sum(r.ready() for r in self.live()) == 2)
        self.wait_for(60, "members Ready=True", lambda: all(v == "True" for v in self.member_ready().values()))
        for m in MEMBERS:
            self.bg("audit-" + m, self.audit_loop, m)
        self.bg("hub-watch", self.hub_watch_loop)
        self.closes = sc.ServerCloses([c.port for c in self.clusters.values()])
        self.op_conns = sc.ClientConns(dict([(self.hub.port, "hub")] + [(p.listen, m) for m, p in self.proxies.items()]))
        self.bg("tcp-sampler", self.sample_tcp)
        log("setup done in %.1fs" % (time.time() - T0))

    def parallel(self, fns):
        errs = []

        def wrap(fn):
            try:
                fn()
            except Exception as e:
                errs.append(e)
        ts = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errs:
            raise errs[0]

    def cluster_up(self, c):
        c.start()
        crds = os.path.join(TOP, "crds")
        if c.name == "hub":
            files = ["federation.kclient.io_federatedpodgroups.yaml", "federation.kclient.io_memberclusters.yaml"]
        else:
            files = ["scheduling.x-k8s.io_podgroups.yaml", "scheduling.volcano.sh_podgroups.yaml"]
        args = sum([["-f", os.path.join(crds, f)] for f in files], [])
        c.kubectl("apply", "--server-side", *args)
        c.kubectl("wait", "--for", "condition=established", "--timeout=60s", *args)

    def register_member(self, m, d):
        with open(os.path.join(self.clusters[m].dir, "writer.kubeconfig")) as f:
            kc = re.sub(r"server: https://127\.0\.0\.1:\d+", "server: https://127.0.0.1:%d" % self.proxies[m].listen, f.read())
        self.hub.admin.request("POST", "/api/v1/namespaces/kclient-system/secrets", {
            "metadata": {"name": "member-" + m},
            "data": {"kubeconfig": base64.b64encode(kc.encode()).decode()}})
        self.create_mc(m, m, "member-" + m)

    def create_mc(self, name, m, secret):
        """The MemberCluster `name` for member m (its labels, flavour, probe settings)."""
        self.hub_call("POST", FED + "/memberclusters", {
            "apiVersion": "federation.kclient.io/v1alpha1", "kind": "MemberCluster",
            "metadata": {"name": name, "labels": MEMBERS[m]["labels"]},
            "spec": {"kubeconfigSecretRef": {"namespace": "kclient-system", "name": secret},
                     "podGroupAPI": MEMBERS[m]["api"],
                     "healthCheck": {"periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 2},
                     "unreachableGraceSeconds": 6}}, ok=(409,))

    def hub_call(self, method, path, body=None, ctype="application/json", ok=(), secs=90):
        """A hub request the soak's faults need done: retried through hub
        restarts and throttling; statuses in ok are answers too (None)."""
        end = time.time() + secs
        while True:
            try:
                return self.hub.admin.request(method, path, body, ctype)
            except ApiError as e:
                if e.status in ok:
                    return None
                if (e.status and e.status not in (429, 500, 502, 503, 504)) or time.time() > end:
                    raise HarnessError("%s %s on the hub: %s" % (method, path, e))
                time.sleep(0.5)

    def wait_for(self, secs, what, fn):
        end = time.time() + secs
        while True:
            try:
                if fn():
                    return
            except (ApiError, OSError):
                pass
            if time.time() > end:
                raise HarnessError("timed out after %ds waiting for: %s" % (secs, what))
            time.sleep(0.5)

    def leader(self):
        lease = self.hub.admin.get("/apis/coordination.k8s.io/v1/namespaces/kclient-system/leases/kclient-operator")
        return (lease.get("spec") or {}).get("holderIdentity") or None

    def member_ready(self):
        out = {}
        for mc in self.hub.admin.get(FED + "/memberclusters")["items"]:
            conds = [c for c in (mc.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
            out[mc["metadata"]["name"]] = conds[0]["status"] if conds else "none"
        return out

    # -- membership: the placement model across removals and renames --

    def name_at(self, m, t):
        """The MemberCluster name that decides placement on member m at time t
        (a removed member keeps its name: being out is not a placement change)."""
        name = m
        for tn, n in self.name_timeline[m]:
            if tn > t:
                break
            name = n
        return name

    def placed_on(self, pl, m, t):
        n = self.name_at(m, t)
        return n in placed_set({"placement": pl}, {n: MEMBERS[m]["labels"]})

    def placed_phys(self, pl, t=None):
        t = time.time() if t is None else t
        return set(m for m in MEMBERS if self.placed_on(pl, m, t))

    def placement_names(self):
        """Names for clusterNames: the members' own, and the MemberClusters serving them now."""
        with self.lock:
            return sorted(set(MEMBERS) | set(n for n in self.serving.values() if n))

    def placement_points(self, f, m):
        """[(t, placed on m)] at every time placement on m may have changed:
        the FederatedPodGroup's placement sent, or m's MemberCluster renamed."""
        hist = [(ta, pl) for ta, _, pl in f.history if pl is not None]
        if not hist:
            return []
        times = sorted(set([ta for ta, _ in hist] + [tn for tn, _ in self.name_timeline[m][1:] if tn >= hist[0][0]]))
        out = []
        for tau in times:
            pl = [p for ta, p in hist if ta <= tau][-1]
            out.append((tau, self.placed_on(pl, m, tau)))
        return out

    def ever_placed(self, f):
        return set(m for m in MEMBERS if any(p for _, p in self.placement_points(f, m)))

    def mc_get(self, name):
        try:
            return self.hub.admin.get(FED + "/memberclusters/" + name)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    @staticmethod
    def mc_ready(mc):
        """(status, reason) of a MemberCluster's Ready condition."""
        conds = [c for c in ((mc or {}).get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        return (conds[0].get("status"), conds[0].get("reason")) if conds else (None, None)

    def wait_mc(self, name, pred, secs, poll=0.5):
        """Poll MemberCluster name (None when it does not exist) until pred
        holds: the time it did, or None after secs."""
        end = time.time() + secs
        while True:
            try:
                mc = self.mc_get(name)
                if pred(mc):
                    return time.time()
            except ApiError:
                pass
            if time.time() > end:
                return None
            time.sleep(poll)

    def member_copies(self, m, labelled=True):
        """m's PodGroups, read straight from the member (admin): key -> object."""
        q = "?labelSelector=" + urllib.parse.quote(MANAGED_BY + "=kclient-federation") if labelled else ""
        for attempt in range(20):
            try:
                items = self.clusters[m].admin.get(pg_base(MEMBERS[m]["api"]) + "/podgroups" + q)["items"]
                return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in items}
            except ApiError as e:
                last = e
                time.sleep(0.5)
        raise HarnessError("cannot list PodGroups on %s: %s" % (m, last))

    # -- operator replicas --

    def live(self):
        return [r for r in self.replicas if r.alive()]

    def start_replica(self):
        with self.lock:
            self.replica_seq += 1
            name = "op-%d" % self.replica_seq
        probe, metrics = free_port(), free_port()
        env = dict(os.environ, KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(self.hub.port))
        env.pop("KUBECONFIG", None)
        logpath = os.path.join(self.work, name + ".log")
        lease = self.a.lease.split(",")
        with open(logpath, "wb") as logf:
            proc = subprocess.Popen([OPERATOR, "--service-account-dir", self.sa, "--namespace", "kclient-system",
                                     "--leader-elect", "--identity", name, "--lease-duration", lease[0],
                                     "--renew-deadline", lease[1], "--retry-period", lease[2],
                                     "--health-probe-bind-address", "127.0.0.1:%d" % probe,
                                     "--metrics-bind-address", "127.0.0.1:%d" % metrics,
                                     "--status-batch-interval", "%dms" % int(STATUS_BATCH_S * 1000),
                                     "--log-format", "json", "-v", str(self.a.operator_v)],
                                    stdout=logf, stderr=subprocess.STDOUT, env=env)
        r = Replica(name, proc, logpath, probe, metrics)
        with self.lock:
            self.replicas.append(r)
        log("operator replica %s started (pid %d)" % (name, proc.pid))
        return r

    def classify_exit(self, r):
        rc = r.proc.returncode
        with open(r.log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 65536))
            tail = f.read().decode(errors="replace")
        if r.killed and rc == -signal.SIGKILL:
            return "killed", tail
        if r.termed and rc == 0:
            return "stopped", tail
        if rc == 1 and "lost leadership" in tail and not CRASH_RE.search(tail):
            return "lost-leadership", tail
        return "UNEXPECTED", tail

    def supervise(self):
        """A Deployment's job: keep two replicas, restart the ones that exit."""
        while True:
            if self.stopping_ops:
                return   # stop_operators and teardown take over
            for r in list(self.replicas):
                if r.exit is None and r.proc.poll() is not None:
                    r.exit = r.proc.returncode
                    r.outcome, tail = self.classify_exit(r)
                    log("operator replica %s exited with %s: %s" % (r.name, r.exit, r.outcome))
                    if r.outcome == "UNEXPECTED":
                        self.violation("operator replica %s exited unexpectedly (status %s); log tail:\n%s" % (
                            r.name, r.exit, "\n".join(tail.splitlines()[-25:])))
                    self.next_replica_at = max(self.next_replica_at, time.time() + 1.0)
            if self.stopping_ops:
                return
            if len(self.live()) < 2 and time.time() >= self.next_replica_at:
                self.start_replica()
            time.sleep(0.3)

    def scrape_metrics(self):
        while not self.stopping_ops:
            for r in self.live():
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % r.metrics, timeout=2) as resp:
                        r.metrics_text = resp.read().decode(errors="replace")
                    req, _ = self.metrics_totals([r])
                    self.metric_series.append((time.time(), r.name, req))
                except OSError:
                    pass
            time.sleep(3)

    def sample_hub(self):
        """Hub responsiveness as the operators see it: helps tell a slow hub
        from a stuck operator when a leader misses its renew deadline."""
        api = Api(self.hub.port, self.hub.admin.token, os.path.join(self.hub.dir, "ca.crt"), timeout=10)
        with open(os.path.join(self.work, "hub-latency.log"), "a") as out:
            while not self.hub_watch_stop.is_set():
                t = time.time()
                try:
                    lease = api.get("/apis/coordination.k8s.io/v1/namespaces/kclient-system/leases/kclient-operator")
                    ok = "ok"
                    ls = (lease or {}).get("spec") or {}
                    renew = parse_ts(ls.get("renewTime") or "")
                    if not ls.get("holderIdentity") or time.time() - renew > 2 * self.lease_secs()[2] + 1:
                        self.t_no_writer = time.time()   # no leader renews
                    self.lease_samples.append((time.time(), ls.get("holderIdentity") or "", ls.get("acquireTime") or "",
                                               parse_ts(ls.get("acquireTime") or ""), parse_ts(ls.get("renewTime") or "")))
                except ApiError as e:
                    ok = err_class(e)
                    self.t_no_writer = time.time()   # the hub does not answer
                dt = time.time() - t
                if not self.stop_load.is_set():
                    self.hub_latency.append((t, dt, ok))
                out.write("%.3f %.3f %s\n" % (t, dt, ok))
                out.flush()
                self.hub_watch_stop.wait(max(0.0, 0.5 - dt))

    # -- the audit: a watch on every member for the whole soak --

    def record_delete(self, m, key, uid, t, source, user=None):
        with self.lock:
            self.deletions.append({"member": m, "ns": key[0], "name": key[1], "uid": uid, "t": t,
                                   "source": source, "user": user})

    def member_event(self, m, k, t, rv, uid, value):
        """A state of member copy k seen by the soak's watch of m: kept when
        the copy or its status changed."""
        if rv is None:
            return
        with self.lock:
            ev = self.member_events[(m,) + tuple(k)]
            if ev and ev[-1][2] == uid and ev[-1][3] == value:
                return
            ev.append((t, float(rv), uid, value))

    def audit_loop(self, m):
        """Watch m's PodGroups directly (not through the proxy).  Whenever the
        watch ends (member restarted, timeout) list again, count what vanished
        meanwhile as deleted at the time of the list, and watch from there."""
        c = self.clusters[m]
        base = pg_base(MEMBERS[m]["api"])
        known = None
        t_gap = None
        out = open(os.path.join(self.work, "audit-watch-%s.log" % m), "a")
        errf = open(os.path.join(self.work, "audit-watch-%s.err" % m), "a")
        while not self.audit_stop.is_set():
            try:
                lst = c.admin.get(base + "/podgroups")
            except ApiError:
                self.audit_stop.wait(0.5)
                continue
            now = time.time()
            cur = {(o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"]["uid"] for o in lst["items"]}
            objs = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in lst["items"]}
            if known is not None:
                for k, uid in known.items():
                    if cur.get(k) != uid:
                        self.record_delete(m, k, uid, now, "watch-gap")
                        # ordered before a copy made again meanwhile
                        rv = float(objs[k]["metadata"]["resourceVersion"]) - 0.5 if k in objs else float(
                            lst["metadata"]["resourceVersion"])
                        self.member_event(m, k, now, rv, uid, None)
            for k, o in objs.items():
                self.member_event(m, k, now, o["metadata"]["resourceVersion"], o["metadata"]["uid"],
                                  sc.status_value(o.get("status")))
            known = cur
            rv = lst["metadata"]["resourceVersion"]
            out.write("%.3f LIST rv=%s items=%d (gap since %s)\n" % (now, rv, len(cur), "%.3f" % t_gap if t_gap else "-"))
            out.flush()
            url = base + "/podgroups?watch=1&allowWatchBookmarks=false&resourceVersion=" + rv
            proc = subprocess.Popen(["kubectl", "--kubeconfig", os.path.join(c.dir, "kubeconfig"), "get", "--raw", url],
                                    stdout=subprocess.PIPE, stderr=errf)
            self.audit_procs[m] = proc
            for line in proc.stdout:
                t = time.time()
                out.write("%.3f %s" % (t, line.decode(errors="replace")))
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                typ, obj = ev.get("type"), ev.get("object") or {}
                if typ == "ERROR":
                    break
                md = obj.get("metadata") or {}
                k = (md.get("namespace"), md.get("name"))
                if typ in ("ADDED", "MODIFIED"):
                    known[k] = md.get("uid")
                    self.member_event(m, k, t, md.get("resourceVersion"), md.get("uid"), sc.status_value(obj.get("status")))
                elif typ == "DELETED":
                    known.pop(k, None)
                    self.record_delete(m, k, md.get("uid"), t, "watch")
                    self.member_event(m, k, t, md.get("resourceVersion"), md.get("uid"), None)
            out.flush()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            t_gap = time.time()
            if not self.audit_stop.is_set():
                self.audit_stop.wait(0.3)

    def hub_watch_loop(self):
        """Watch every FederatedPodGroup on the hub for the whole soak and keep
        each change of each status entry with the time it was seen (the
        status flow's hub side).  Whenever the watch ends (hub restart) list
        again: the gap is kept (values shown and replaced meanwhile were not
        seen)."""
        hub = self.hub
        path = FED + "/federatedpodgroups"
        out = open(os.path.join(self.work, "hub-watch.log"), "a")
        errf = open(os.path.join(self.work, "hub-watch.err"), "a")
        t_gap = None
        known = set()
        while not self.hub_watch_stop.is_set():
            try:
                lst = hub.admin.get(path)
            except ApiError:
                self.hub_watch_stop.wait(0.3)
                continue
            now = time.time()
            if t_gap is not None:
                self.hub_watch_gaps.append((t_gap, now))
            cur = set()
            for o in lst["items"]:
                k = (o["metadata"]["namespace"], o["metadata"]["name"])
                cur.add(k)
                self.hub_entries.observe(now, k, o.get("status"))
            for k in known - cur:
                self.hub_entries.observe(now, k, None, present=False)
            known = cur
            rv = lst["metadata"]["resourceVersion"]
            out.write("%.3f LIST rv=%s items=%d\n" % (now, rv, len(cur)))
            proc = subprocess.Popen(["kubectl", "--kubeconfig", os.path.join(hub.dir, "kubeconfig"), "get", "--raw",
                                     path + "?watch=1&allowWatchBookmarks=false&resourceVersion=" + rv],
                                    stdout=subprocess.PIPE, stderr=errf)
            self.audit_procs["hub"] = proc
            for line in proc.stdout:
                t = time.time()
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                typ, obj = ev.get("type"), ev.get("object") or {}
                if typ == "ERROR":
                    out.write("%.3f ERROR %s\n" % (t, json.dumps(obj)[:300]))
                    break
                md = obj.get("metadata") or {}
                k = (md.get("namespace"), md.get("name"))
                if typ in ("ADDED", "MODIFIED"):
                    known.add(k)
                    self.hub_entries.observe(t, k, obj.get("status"))
                elif typ == "DELETED":
                    known.discard(k)
                    self.hub_entries.observe(t, k, None, present=False)
                else:
                    continue
                out.write("%.3f %s %s/%s rv=%s %s\n" % (t, typ, k[0], k[1], md.get("resourceVersion"), " ".join(
                    "%s=%s/%s/%s/%s%s" % ((e.get("clusterName"),) + sc.entry_value(e) + ("(stale)" if e.get("stale") else "",))
                    for e in (obj.get("status") or {}).get("clusters") or [])))
            out.flush()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            t_gap = time.time()
            if not self.hub_watch_stop.is_set():
                self.hub_watch_stop.wait(0.2)
        out.close()

    def sample_tcp(self):
        """Every second from /proc/net/tcp: the connections the operator
        replicas have open to the hub and to each member's proxy (each socket
        counted once: HTTP/2 GOAWAY, --goaway-chance, makes them open new
        ones), and those each control plane closed first (its side in
        FIN_WAIT or TIME_WAIT)."""
        while not self.stopping_ops:
            rows = []
            for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
                try:
                    with open(fn) as fh:
                        rows += sc.parse_proc_tcp(fh.read())
                except OSError:
                    pass
            pids = {}
            for r in self.live():
                inodes = set()
                try:
                    for fd in os.listdir("/proc/%d/fd" % r.proc.pid):
                        try:
                            ln = os.readlink("/proc/%d/fd/%s" % (r.proc.pid, fd))
                        except OSError:
                            continue
                        if ln.startswith("socket:["):
                            inodes.add(ln[8:-1])
                except OSError:
                    continue
                pids[r.proc.pid] = inodes
            self.closes.sample(time.time(), rows)
            self.op_conns.sample(rows, pids)
            time.sleep(1)

    def goaway_probe(self):
        """curl (libcurl, as the operator; HTTP/2) sends GOAWAY_PROBES GETs
        of /readyz to each control plane over one reused connection and
        counts the connections it had to open: beyond the first, each one is
        a GOAWAY."""
        out = {}
        for name, c in self.clusters.items():
            cfg = os.path.join(self.work, "goaway-probe-%s.curl" % name)
            with open(cfg, "w") as fh:
                fh.write('header = "Authorization: Bearer %s"\n' % c.admin.token)
                fh.write('cacert = "%s"\nhttp2\nsilent\nwrite-out = "%%{num_connects} %%{http_code}\\n"\n' % (
                    os.path.join(c.dir, "ca.crt")))
                for _ in range(GOAWAY_PROBES):
                    fh.write('url = "https://127.0.0.1:%d/readyz"\noutput = "/dev/null"\n' % c.port)
            r = subprocess.run(["curl", "--config", cfg], capture_output=True, text=True)
            lines = [x.split() for x in r.stdout.splitlines() if x.strip()]
            ok = sum(1 for x in lines if len(x) == 2 and x[1] == "200")
            out[name] = (sum(int(x[0]) for x in lines if x and x[0].isdigit()), ok)
        return out

    def read_hub_audit(self):
        """Read what the hub's audit log gained since the last call: the fate
        of the load's own writes (by Audit-ID), the Lease writes (leadership
        terms) and every write of the operator (the one-writer check)."""
        path = os.path.join(self.hub.dir, "audit.log")
        if not os.path.exists(path):
            return
        with open(path, "rb") as fh:
            fh.seek(self.hub_audit_pos)
            data = fh.read()
        end = data.rfind(b"\n") + 1   # a line being written is read next time
        self.hub_audit_pos += end
        for raw in data[:end].splitlines():
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            if ev.get("stage") != "ResponseComplete":
                continue
            self.hub_audit_events += 1
            code = (ev.get("responseStatus") or {}).get("code", 0)
            t = parse_ts(ev.get("requestReceivedTimestamp", ""))
            aid = ev.get("auditID") or ""
            if aid.startswith("soak-"):
                self.hub_audit_soak.setdefault(aid, []).append((t, code))
                continue
            if (ev.get("user") or {}).get("username") != SA_USER:
                continue
            ref = ev.get("objectRef") or {}
            ua = ev.get("userAgent", "")
            if ref.get("resource") == "leases":
                if 200 <= code < 300:
                    spec = ((ev.get("responseObject") or {}).get("spec")) or {}
                    mt = sc.UA_RE.match(ua)
                    self.lease_writes.append((t, parse_ts(ev.get("stageTimestamp", "")), mt.group(2) if mt else ua,
                                              spec.get("holderIdentity") or "", spec.get("acquireTime") or "",
                                              parse_ts(spec.get("acquireTime") or "")))
                continue
            what = "%s %s%s %s%s -> %s" % (ev.get("verb"), ref.get("resource"),
                                          "/" + ref["subresource"] if ref.get("subresource") else "",
                                          ref["namespace"] + "/" if ref.get("namespace") else "", ref.get("name"), code)
            self.op_hub_writes.append((t, ua, what))

    def resolve_attempts(self):
        """The hub's audit log says what became of each load write: the time
        the hub received the confirmed ones, and whether those whose answer
        was lost were applied."""
        self.read_hub_audit()
        c = collections.Counter()
        with self.lock:
            items = list(self.attempt_by_aid.items())
        for aid, (f, att) in items:
            seen = self.hub_audit_soak.get(aid) or []
            ok = [t for t, code in seen if 200 <= code < 300]
            if att["res"] == "ok":
                if ok:
                    att["ts"] = ok[0]
                    c["confirmed, with the hub's time"] += 1
                else:
                    c["answered 2xx, NOT in the hub audit"] += 1
            elif att["res"] == "maybe":
                if ok:
                    att["ts"], att["code"] = ok[0], 200
                    c["answer lost, applied (hub audit)"] += 1
                else:
                    c["answer lost, not applied (hub audit: %s)" % (",".join(str(code) for _, code in seen) or
                                                                     "no entry")] += 1
            elif att["res"] == "refused":
                c["refused"] += 1
                if ok:
                    self.violation("hub write %s (%s of %s/%s) answered as not applied (%s) but the hub audit "
                                   "shows it applied" % (aid, att["kind"], f.ns, f.name, att["code"]))
        self.attempt_outcomes = c
        return c

    def read_apiserver_audit(self):
        """The members' audit logs: creations and deletions of PodGroups, the
        operator's writes (user writer), and its reads (429s, relists).  A
        missing or empty audit log fails the run: every check that reads it
        would pass on nothing."""
        for m in MEMBERS:
            path = os.path.join(self.clusters[m].dir, "audit.log")
            n = 0
            if os.path.exists(path):
                for line in open(path, errors="replace"):
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get("stage") != "ResponseComplete":
                        continue
                    n += 1
                    code = (ev.get("responseStatus") or {}).get("code", 0)
                    ref = ev.get("objectRef") or {}
                    t = parse_ts(ev.get("requestReceivedTimestamp", ""))
                    verb = ev.get("verb")
                    writer = (ev.get("user") or {}).get("username") == "writer"   # the operator
                    if verb in ("get", "list", "watch"):
                        if writer:
                            self.member_reads[m].append((t, verb, ref.get("resource") or ev.get("requestURI", ""), code))
                        continue
                    if code == 201 and not ref.get("subresource"):  # created (server-side apply creates too)
                        self.creations[(m, ref.get("namespace"), ref.get("name"))].append(t)
                    if writer:
                        self.member_writes[m].append((t, verb, ref.get("namespace"), ref.get("name"), code,
                                                      ev.get("userAgent", "")))
                    if verb not in ("delete", "deletecollection") or code >= 300:
                        continue
                    self.record_delete(m, (ref.get("namespace"), ref.get("name")), None, t, "apiserver-audit",
                                       (ev.get("user") or {}).get("username"))
            self.audit_counts[m] = n
            if not n:
                self.violation("%s: the audit log %s is %s: the deletion, writer and fault checks that read it "
                               "cannot be made" % (m, path, "empty" if os.path.exists(path) else "missing"))

    def explain_delete(self, d):
        """Why a member copy may have been deleted, or None.  Reasons starting
        with "ORPHAN" are not reasons: an Orphan copy is never deleted but by a
        placement change away from its member (docs/member-lifecycle.md)."""
        f = self.fpgs.get((d["ns"], d["name"]))
        if f is None:
            return None
        t, m = d["t"], d["member"]
        pts = self.placement_points(f, m)
        for ta, placed in pts:
            if ta > t:
                break
            if not placed:
                back = [tb for tb, p in pts if p and ta < tb <= t - PLACEMENT_LAG]
                if not back:
                    return "placement-change"
        deleted = [ta for ta, kind, _ in f.history if kind == "delete" and ta <= t]
        if deleted:
            if f.policy == "Delete":
                return "fpg-deleted"
            made = [tc for tc in self.creations.get((m, d["ns"], d["name"]), []) if tc <= t]
            if made and made[-1] > deleted[0]:
                # a copy created after the soak's DELETE (a deposed leader's
                # late apply, kubernetes#77988): a stray, but an Orphan one is
                # released, not deleted
                return "ORPHAN-stray-created-after-fpg-deleted"
            return "ORPHAN-fpg-deleted"
        for rm, name, t1, t2 in self.removals:
            if rm == m and t1 - 1 <= t <= (t2 or time.time()) + 5:
                return "member-removed" if f.policy == "Delete" else "ORPHAN-member-removed"
        return None

    def window_note(self, m, t):
        """The lifecycle fault a time on member m falls in, for messages."""
        for wm, old, new, t1, t2 in self.dup_windows:
            if wm == m and t1 <= t <= (t2 or time.time()):
                return " (during the overlap of %s with its duplicate %s)" % (old, new)
        for rm, name, t1, t2 in self.removals:
            if rm == m and t1 - 1 <= t <= (t2 or time.time()) + 5:
                return " (while MemberCluster %s was leaving)" % name
        return ""

    def faults_around(self, t, m):
        out = []
        for s, e, kind, target in self.fault_timeline:
            if s - 15 <= t <= (e or time.time()) + 15 and target in (m, "hub", "operator", None):
                out.append("%s %s [%.1fs..%.1fs]" % (kind, target or "", s - T0, (e or time.time()) - T0))
        return ", ".join(out) or "none"

    # -- the load: hub operations --

    def action(self, f, kind, att, result, placed=None, pl=None):
        rec = {"t": round(att["t"] - T0, 3), "answered": round(att["ta"] - T0, 3), "op": kind,
               "fpg": "%s/%s" % (f.ns, f.name), "result": result, "outcome": att["res"], "audit_id": att["aid"]}
        if placed is not None:
            rec["placed"] = sorted(placed)
        if pl is not None:
            rec["placement"] = pl
        with self.lock:
            self.actions.write(json.dumps(rec) + "\n")

    def history_text(self, f):
        """Every request sent for f: when (sent; hub-received), what, placed
        where, and what became of it."""
        out = []
        for a in (f.attempts if f else []):
            t = a["ts"] or a["t"]
            where = (" " + (",".join(sorted(self.placed_phys(a["pl"], t))) or "-")) if a["pl"] is not None else ""
            if a["res"] == "ok":
                what = ""
            elif a["res"] == "maybe":
                what = " (answer lost: %s)" % ("the hub audit shows %s" % a["code"] if a["ts"] else "NOT in the hub audit")
            else:
                what = " (%s %s)" % (a["res"], a["code"])
            out.append("%.1fs%s %s%s%s" % (a["t"] - T0, " (hub %.1fs)" % (a["ts"] - T0) if a["ts"] else "", a["kind"],
                                           where, what))
        return "; ".join(out) or "none"

    def fpg_path(self, f):
        return "%s/namespaces/%s/federatedpodgroups/%s" % (FED, f.ns, f.name)

    def random_spec(self, rng, name):
        names = self.placement_names()
        spec = {"placement": random_placement(rng, names),
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"minMember": rng.randint(1, 16), "queue": "default"}},
                "minReadyClusters": rng.choice([1, 1, 1, 2, 3]),
                "deletionPolicy": "Orphan" if rng.random() < 0.2 else "Delete"}
        if rng.random() < 0.3:
            spec["overrides"] = [{"clusterName": rng.choice(names),
                                  "patches": [{"op": "add", "path": "/metadata/labels/" + OVERRIDE_LABEL, "value": "v0"}]}]
        return spec

    def hub_write(self, f, kind, pl, method, path, body, ctype="application/json"):
        """One hub write of the load, recorded in f.attempts: ok only when the
        hub answered 2xx (at the time of the answer), refused when it answered
        that it did not apply it (or never got it), maybe otherwise (the hub
        audit log decides later).  Returns (attempt, error or None)."""
        with self.lock:
            self.aid_seq += 1
            aid = "soak-%d-%d" % (self.seed, self.aid_seq)
        att = {"t": time.time(), "ta": None, "kind": kind, "pl": pl, "aid": aid, "res": "pending", "ts": None,
               "code": None}
        with self.lock:
            f.attempts.append(att)
            self.attempt_by_aid[aid] = (f, att)
        try:
            self.hub.admin.request(method, path, body, ctype=ctype, audit_id=aid)
            err = None
        except ApiError as e:
            err = e
        with self.lock:
            att["ta"] = time.time()
            att["code"] = err.status if err else 200
            att["res"] = "ok" if err is None else "refused" if refused(err) else "maybe"
        return att, err

    def op_create(self, rng):
        with self.lock:
            i = self.next_index
            self.next_index += 1
        ns, name = NAMESPACES[i % len(NAMESPACES)], "fpg-%05d" % i
        spec = self.random_spec(rng, name)
        t = time.time()
        f = Fpg(ns, name, spec, self.placed_phys(spec["placement"], t))
        with self.lock:
            self.fpgs[(ns, name)] = f
        att, e = self.hub_write(f, "create", f.pl, "POST", "%s/namespaces/%s/federatedpodgroups" % (FED, ns), {
            "apiVersion": "federation.kclient.io/v1alpha1", "kind": "FederatedPodGroup",
            "metadata": {"name": name, "namespace": ns}, "spec": spec})
        if e is None:
            f.state = "live"
            self.counts["create"] += 1
            self.counts["create-" + f.policy] += 1
            res = "ok"
        else:
            # 409: a retry of a create that was applied (the audit log shows the
            # first attempt); any other refusal: it does not exist
            f.state = "live" if e.status == 409 else "absent" if att["res"] == "refused" else "uncertain"
            if e.status == 409:
                att["res"] = "maybe"
            self.op_errors["create: " + err_class(e)] += 1
            res = str(e)
        self.action(f, "create " + f.policy, att, res, f.placed, f.pl)

    def pick(self, rng, states=("live", "uncertain")):
        with self.lock:
            cands = [f for f in self.fpgs.values() if f.state in states and not f.deleted]
        return rng.choice(cands) if cands else None

    def patch_fpg(self, f, ops, kind, pl):
        t = time.time()
        with self.lock:
            before = (f.pl, f.placed)
            if pl is not None:
                f.pl = pl
                f.placed = self.placed_phys(pl, t)
        placed = set(f.placed) if pl is not None else None
        att, e = self.hub_write(f, kind, pl, "PATCH", self.fpg_path(f), ops, ctype="application/json-patch+json")
        if e is None:
            f.state = "live"
            self.counts["update"] += 1
            self.counts["update-" + kind] += 1
            res = "ok"
        else:
            if e.status == 404 and f.state == "uncertain":
                f.state = "absent"  # its create never happened
            if att["res"] == "refused":
                # not applied: the model must not expect it (an uncertain
                # outcome, a transport error or 500/504, stays: it may be)
                with self.lock:
                    if pl is not None and f.pl is pl:
                        f.pl, f.placed = before
            self.op_errors["update: " + err_class(e)] += 1
            res = str(e)
        self.action(f, "update " + kind, att, res, placed, pl)

    def op_update_spec(self, rng):
        f = self.pick(rng)
        if not f:
            return
        ops = [{"op": "add", "path": "/spec/template/spec/minMember", "value": rng.randint(1, 16)}]
        if rng.random() < 0.3:
            ov = [{"clusterName": rng.choice(self.placement_names()),
                   "patches": [{"op": "add", "path": "/metadata/labels/" + OVERRIDE_LABEL, "value": "v%d" % rng.randint(1, 9)}]}]
            ops.append({"op": "add", "path": "/spec/overrides", "value": ov})
        self.patch_fpg(f, ops, "spec", None)

    def op_update_placement(self, rng):
        f = self.pick(rng)
        if not f:
            return
        pl = random_placement(rng, self.placement_names())
        self.patch_fpg(f, [{"op": "add", "path": "/spec/placement", "value": pl}], "placement", pl)

    def op_delete(self, rng):
        f = self.pick(rng)
        if f:
            self.delete_fpg(f)

    def delete_fpg(self, f):
        att, e = self.hub_write(f, "delete", None, "DELETE", self.fpg_path(f), None)
        if e is None:
            f.deleted = True
            f.state = "deleted"
            self.counts["delete"] += 1
            self.counts["delete-" + f.policy] += 1
            res = "ok"
        else:
            if e.status == 404:
                # gone: deleted by an earlier request (its own audit entry
                # says so), or never created; this one explains nothing
                f.deleted = True
                f.state = "absent" if f.state == "uncertain" else "deleted"
            self.op_errors["delete: " + err_class(e)] += 1
            res = str(e)
        self.action(f, "delete " + f.policy, att, res)

    def hub_load(self):
        rng = random.Random(self.seed * 1000 + 1)
        target = self.a.fpgs
        rates = {"create": self.a.create_rate, "spec": 1.5, "placement": 0.8, "delete": 1.0}
        tokens = dict.fromkeys(rates, 0.0)
        last = time.time()
        while not self.stop_load.is_set():
            now = time.time()
            el = now - self.t_soak_start
            dt, last = now - last, now
            with self.lock:
                live = sum(1 for f in self.fpgs.values() if f.state in ("live", "uncertain") and not f.deleted)
            created = self.counts["create"]  # made on the hub, not just attempted
            for k, r in rates.items():
                if k == "create" and created >= target:
                    r = 1.0 if live < 0.7 * target else 0.0  # replace deleted ones
                if k == "delete" and (el < 0.1 * self.a.duration or live < 20):
                    r = 0.0
                tokens[k] = min(2.0, tokens[k] + r * dt)
            k = max(tokens, key=tokens.get)
            if tokens[k] < 1.0:
                time.sleep(0.02)
                continue
            tokens[k] -= 1.0
            {"create": self.op_create, "spec": self.op_update_spec, "placement": self.op_update_placement,
             "delete": self.op_delete}[k](rng)

    # -- the load: member schedulers changing PodGroup statuses --

    def member_load(self):
        rng = random.Random(self.seed * 1000 + 2)
        period = 1.0 / self.a.status_rate
        nxt = time.time()
        while not self.stop_load.is_set():
            nxt += period
            delay = nxt - time.time()
            if delay > 0:
                self.stop_load.wait(delay)
            else:
                nxt = time.time()
            with self.lock:
                cands = [f for f in self.fpgs.values() if f.state == "live" and not f.deleted and f.placed]
            if not cands:
                continue
            f = rng.choice(cands)
            placed = sorted(self.placed_phys(f.pl))  # a rename may have moved it since
            if not placed:
                continue
            m = rng.choice(placed)
            api = MEMBERS[m]["api"]
            n = f.spec["template"]["spec"]["minMember"]
            st = {"phase": rng.choice(PHASES[api]), "running": rng.randint(0, n), "succeeded": rng.randint(0, 3),
                  "failed": rng.randint(0, 2)}
            path = "%s/namespaces/%s/podgroups/%s%s" % (pg_base(api), f.ns, f.name, "" if api == "Volcano" else "/status")
            c = self.clusters[m]
            if not c.up.is_set():
                self.op_errors["member status: control plane down"] += 1
                continue
            try:
                t = time.time()
                o = c.admin.request("PATCH", path, {"status": st}, ctype="application/merge-patch+json")
                t_ack = time.time()
                self.status_changes[m] += 1
                v = (st["phase"], st["running"], st["succeeded"], st["failed"])
                md = (o or {}).get("metadata") or {}
                with self.lock:
                    self.status_log[(m, f.ns, f.name)].append((t, v))
                    if md.get("resourceVersion"):
                        self.status_writes[(m, f.ns, f.name)].append((t, t_ack, md["resourceVersion"], md.get("uid"),
                                                                      sc.status_value(o.get("status"))))
            except ApiError as e:
                self.op_errors["member status: " + ("not created yet" if e.status == 404 else err_class(e))] += 1

    # -- faults --

    def make_plan(self):
        rng = random.Random(self.seed)
        plan = []
        must = list(FAULT_WEIGHTS)
        rng.shuffle(must)
        t = rng.uniform(5, 9)
        while t < self.a.duration - 10:
            left = self.a.duration - t
            kinds = [k for k in FAULT_WEIGHTS if left > FAULT_ROOM.get(k, 10)]
            if must and must[-1] not in kinds:
                must = [k for k in must if k in kinds]
            first = bool(must)
            kind = must.pop() if must else rng.choices(kinds, [FAULT_WEIGHTS[k] for k in kinds])[0]
            f = {"t": round(t, 1), "kind": kind}
            if first:
                f["must"] = True   # the first of its kind: waits for its target rather than being skipped
            if kind.startswith("link-") or kind in MEMBER_FAULTS:
                f["target"] = rng.choice(sorted(MEMBERS))
            elif kind == "compaction":
                f["target"] = "m3"
            elif kind == "hub-restart":
                f["target"] = "hub"
            else:
                f["target"] = "operator"
            if kind in ("link-cut", "link-blackhole"):
                f["hold"] = round(rng.uniform(2, 12), 1)
            elif kind == "link-latency":
                f["hold"] = round(rng.uniform(5, 20), 1)
                f["ms"] = rng.randint(50, 600)
            elif kind in ("member-restart", "hub-restart"):
                f["hold"] = round(rng.uniform(0, 4), 1)
            elif kind == "throttle-429":
                f["hold"] = round(rng.uniform(15, 30), 1)
            elif kind == "member-remove-rejoin":
                f["hold"] = round(rng.uniform(3, 8), 1)     # out that long
            elif kind == "member-force-leave":
                f["hold"] = round(rng.uniform(1, 3), 1)     # out that long after the strays are made
            elif kind == "member-rename":
                f["hold"] = round(rng.uniform(3, 6), 1)     # overlap with the duplicate
            elif kind in ("secret-broken", "member-hang"):
                f["hold"] = round(rng.uniform(5, 15), 1)
            plan.append(f)
            t += rng.uniform(3.5, 8.0)
        return plan

    def run_faults(self, plan):
        sem = threading.Semaphore(3)
        running = []
        for f in plan:
            start = self.t_soak_start + f["t"]
            if self.stop_faults.wait(max(0.0, start - time.time())):
                break
            # the first of its kind waits for a slot (as for its target) until
            # 10 s before the end; the others give up after 20 s
            end = max(time.time() + 20, self.t_soak_start + self.a.duration - 10) if f.get("must") else time.time() + 20
            got = False
            while not got and time.time() < end and not self.stop_faults.is_set():
                got = sem.acquire(timeout=min(1.0, max(0.01, end - time.time())))
            if not got:
                self.faults_skipped[f["kind"]] += 1
                log("fault %s skipped: three faults already running" % f["kind"])
                continue

            def one(f=f):
                try:
                    self.inject(f)
                finally:
                    sem.release()
            running.append(self.bg("fault-%s" % f["kind"], one))
        for t in running:
            t.join()

    def inject(self, f):
        kind, target = f["kind"], f.get("target")
        # The planned target busy with another fault: another member will do
        # (not for compaction: only m3 runs without the watch cache).
        alts = [target]
        if target in MEMBERS and kind != "compaction":
            alts += [m for m in sorted(MEMBERS) if m != target]
        lock = None
        end = time.time() + 20
        if f.get("must"):
            end = max(end, self.t_soak_start + self.a.duration - 10)
        while lock is None and time.time() < end and not self.stop_faults.is_set():
            for t in alts:
                cand = self.clusters[t].lock if t in self.clusters else self.op_lock
                if cand.acquire(blocking=False):
                    lock, target = cand, t
                    break
            else:
                self.stop_faults.wait(0.5)
        if lock is None:
            self.faults_skipped[kind] += 1
            log("fault %s on %s skipped: target busy" % (kind, f.get("target")))
            return
        f = dict(f, target=target)
        try:
            if self.stop_faults.is_set():
                return
            start = time.time()
            entry = [start, None, kind, target]
            f["ev"] = self.fault_evidence[id(entry)] = {}   # what the injection itself saw
            with self.lock:
                self.fault_timeline.append(entry)
            desc = self.do_fault(f)
            if desc is None:
                with self.lock:
                    self.fault_timeline.remove(entry)
                self.faults_skipped[kind] += 1
                return
            entry[1] = time.time()
            with self.lock:
                self.faults_done[kind] += 1
                self.t_last_fault = max(self.t_last_fault or 0, entry[1])
            log("fault %s on %s: %s (%.1fs)" % (kind, target, desc, entry[1] - start))
        finally:
            lock.release()

    def do_fault(self, f):
        kind, target, hold = f["kind"], f.get("target"), f.get("hold", 0)
        ab = self.stop_faults
        if kind in ("link-cut", "link-blackhole"):
            p = self.proxies[target]
            p.ctl("mode?set=" + kind[5:])
            ab.wait(hold)
            p.ctl("mode?set=pass")
            return "%s for %.1fs" % (kind[5:], hold)
        if kind == "link-latency":
            p = self.proxies[target]
            p.ctl("latency?ms=%d" % f["ms"])
            f["ev"]["ms"] = f["ms"]
            t0 = time.time()
            # a request of the soak's own through the proxy: the delay is there
            api = Api(p.listen, self.clusters[target].admin.token, os.path.join(self.clusters[target].dir, "ca.crt"),
                      timeout=max(10, hold))
            try:
                api.request("GET", "/readyz")
                f["ev"]["rtt"] = time.time() - t0
            except ApiError as e:
                f["ev"]["rtt_error"] = str(e)
            ab.wait(max(0.0, hold - (time.time() - t0)))
            p.ctl("latency?ms=0")
            return "%d ms for %.1fs (a request through it took %s)" % (
                f["ms"], hold, "%.0f ms" % (f["ev"]["rtt"] * 1000) if "rtt" in f["ev"] else f["ev"].get("rtt_error"))
        if kind == "link-reset":
            # a reset needs a connection to reset: the link may be idle for a
            # moment (its member just restarted, a watch between attempts) -
            # wait for one (up to 15 s) rather than inject a fault that cannot bite
            px = self.proxies[target]
            deadline = time.time() + 15
            before = px.ctl("status").get("cuts", 0)
            st = {}
            while True:
                while px.ctl("status").get("active_conns", 0) < 1 and time.time() < deadline and not ab.is_set():
                    time.sleep(0.2)
                st = px.ctl("cut-once")
                f["ev"]["reset"] = st.get("cuts", 0) - before
                if f["ev"]["reset"] >= 1 or time.time() >= deadline or ab.is_set():
                    break
                time.sleep(0.3)
            return "reset mid-stream: %d connections reset (%s so far by the proxy)" % (f["ev"]["reset"], st.get("cuts"))
        if kind in ("member-restart", "hub-restart"):
            self.clusters[target].restart(hold, abort=ab)
            return "stopped, down %.1fs, started again on the same data directory" % hold
        if kind == "leader-kill":
            # wait (up to 20 s) for a leader and a ready standby: not during a hub restart
            deadline = time.time() + 20
            if f.get("must"):
                deadline = max(deadline, self.t_soak_start + self.a.duration - 10)
            while True:
                try:
                    holder = self.leader()
                except ApiError:
                    holder = None
                r = next((r for r in self.live() if r.name == holder), None)
                standby = [x for x in self.live() if x is not r and x.ready()]
                if r and standby:
                    break
                if time.time() > deadline or ab.wait(1.0):
                    log("leader-kill skipped: leader %s, ready standbys %d" % (holder, len(standby)))
                    return None
            r.killed = True
            f["ev"]["killed"] = r.name
            os.kill(r.proc.pid, signal.SIGKILL)
            return "SIGKILL to leader %s (standby %s)" % (r.name, standby[0].name)
        if kind == "compaction":
            # the link cut first, so the operator's watches stop where they
            # are; two writes move the revision past anything they saw (a
            # watch from rv R resumes at R+1, which a compaction at R+1
            # keeps); compacted; link back: they resume from a compacted
            # revision and get 410
            c = self.clusters[target]
            p = self.proxies[target]
            self.compactions += 1
            cm = "soak-compact-%d" % self.compactions
            before = p.ctl("status").get("cuts", 0)
            p.ctl("mode?set=cut")
            try:
                c.admin.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": cm}})
                c.admin.request("DELETE", "/api/v1/namespaces/default/configmaps/" + cm)
                r = subprocess.run([LOCAL_CLUSTER, "compact", c.dir], capture_output=True, text=True)
                f["ev"]["t_compact"] = time.time()
            finally:
                st = p.ctl("mode?set=pass")
            if r.returncode:
                raise HarnessError("compact %s: %s" % (target, r.stderr.strip()))
            f["ev"]["reset"] = st.get("cuts", 0) - before
            return "%s with its link cut (%d connections reset): watches resume from a compacted revision" % (
                r.stdout.strip(), f["ev"]["reset"])
        if kind in LIFECYCLE_FAULTS:
            return getattr(self, LIFECYCLE_FAULTS[kind])(target, f, ab)
        if kind == "throttle-429":
            c = self.clusters[target]
            c.restart(0, THROTTLE_FLAGS)
            c.admin.request("PATCH", "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/kclient-writer",
                            {"spec": {"limited": {"limitResponse": {"type": "Reject", "queuing": None}}}},
                            ctype="application/merge-patch+json")
            ab.wait(hold)
            c.restart(0)
            return "restarted with in-flight limits 1/1 and writer's priority level rejecting, for %.1fs" % hold

    # -- member lifecycle faults (docs/member-lifecycle.md) --

    @staticmethod
    def mc_text(mc):
        if mc is None:
            return "gone"
        st = mc.get("status") or {}
        return "phase %s, finalizers %s, conditions %s" % (
            st.get("phase"), (mc.get("metadata") or {}).get("finalizers"),
            "; ".join("%s=%s %s: %s" % (c.get("type"), c.get("status"), c.get("reason"), (c.get("message") or "")[:160])
                      for c in st.get("conditions") or []))

    def mc_now(self, name):
        try:
            return self.mc_text(self.mc_get(name))
        except ApiError as e:
            return "cannot read it: %s" % e

    def mc_state(self, name):
        try:
            return self.mc_ready(self.mc_get(name))
        except ApiError:
            return (None, None)

    def wait_gone(self, name, why):
        """MemberCluster name was deleted: the time it is gone (the operator
        holds its finalizer while it deals with the copies)."""
        t = self.wait_mc(name, lambda mc: mc is None, 90)
        if t is None:
            self.violation("MemberCluster %s (%s) not gone 90s after its deletion: %s" % (name, why, self.mc_now(name)))
            t = self.force_gone(name)
        return t

    def force_gone(self, name):
        """The soak must go on: force-leave, then the finalizers removed by hand."""
        path = FED + "/memberclusters/" + name
        self.hub_call("PATCH", path, {"metadata": {"annotations": {ANN_FORCE_LEAVE: "true"}}},
                      ctype="application/merge-patch+json", ok=(404,))
        t = self.wait_mc(name, lambda mc: mc is None, 20)
        if t is None:
            log("MemberCluster %s: removing its finalizers by hand" % name)
            self.hub_call("PATCH", path, {"metadata": {"finalizers": None}}, ctype="application/merge-patch+json", ok=(404,))
            t = self.wait_mc(name, lambda mc: mc is None, 20)
            if t is None:
                raise HarnessError("cannot remove MemberCluster %s" % name)
        return t

    def wait_ready(self, name, m, secs=90):
        t0 = time.time()
        t = self.wait_mc(name, lambda mc: self.mc_ready(mc)[0] == "True", secs)
        if t is None:
            self.violation("MemberCluster %s (member %s) not Ready=True %ds after it was registered: %s" % (
                name, m, secs, self.mc_now(name)))
            return "NOT Ready after %ds" % secs
        return "Ready after %.1fs" % (t - t0)

    @staticmethod
    def copy_cluster(o):
        lbl = (o.get("metadata") or {}).get("labels") or {}
        return lbl.get(LABEL_CLUSTER, "") if lbl.get(MANAGED_BY) == "kclient-federation" else None

    def check_left(self, m, name, snap, t_snap, handover_to=None):
        """MemberCluster name let go of member m (its finalizer is gone): no
        copy may be ours on it any more; each copy in snap (taken before the
        deletion; FederatedPodGroups the soak changed since are left out) was
        handed over (uid kept, cluster label the new name) or, with no other
        MemberCluster for the member, deleted (Delete) or released (Orphan)."""
        end = time.time() + 10
        while True:
            cur = self.member_copies(m, labelled=False)
            left = sorted(k for k, o in cur.items()
                          if self.copy_cluster(o) == name or (not handover_to and self.copy_cluster(o) == ""))
            if not left or time.time() > end:
                break
            time.sleep(1)
        if left:
            self.violation("%s: MemberCluster %s let go (finalizer released) with %d copies still ours on it "
                           "(cluster label %s), e.g. %s" % (m, name, len(left), name,
                                                             ", ".join("%s/%s" % k for k in left[:8])))
        out = collections.Counter()
        bad = collections.defaultdict(list)
        for k, o in sorted(snap.items()):
            f = self.fpgs.get(k)
            if not f or f.delete_sent or any(ta >= t_snap - 2 for ta, _, _ in f.touched()):
                out["changed meanwhile"] += 1
                continue
            c = cur.get(k)
            same = c is not None and c["metadata"]["uid"] == o["metadata"]["uid"]
            kk = "%s/%s" % k
            if handover_to:
                if not self.placed_on(f.pl, m, time.time()):
                    out["placed by the old name (leaves)"] += 1
                elif not same:
                    bad["not handed over but %s" % ("re-created (new uid)" if c else "deleted")].append(kk)
                elif self.copy_cluster(c) != handover_to:
                    # the new MemberCluster may relabel it later: it is the
                    # leave that must have done it (before its finalizer went)
                    bad["kept but not relabelled (cluster label %r)" % self.copy_cluster(c)].append(kk)
                else:
                    out["handed over"] += 1
            elif f.policy == "Delete":
                if same:
                    bad["policy Delete, survived the leave (%s)" % (
                        "still labelled" if self.copy_cluster(c) is not None else "released")].append(kk)
                else:
                    out["deleted"] += 1
            else:
                out["released" if same and self.copy_cluster(c) is None else
                    "Orphan copy GONE" if not same else "Orphan copy still labelled"] += 1
        for what, keys in sorted(bad.items()):
            out[what] += len(keys)
            self.violation("%s: %d copies %s when MemberCluster %s went%s, e.g. %s" % (
                m, len(keys), what, name, " (rename to %s)" % handover_to if handover_to else "",
                ", ".join(keys[:8])))
        return out

    def fault_remove_rejoin(self, m, f, ab):
        name = self.serving[m]
        mc = self.hub_call("GET", FED + "/memberclusters/" + name, ok=(404,))
        fin = MC_FINALIZER in ((mc or {}).get("metadata") or {}).get("finalizers", [])
        t_snap = time.time()
        snap = {k: o for k, o in self.member_copies(m).items() if self.copy_cluster(o) == name}
        rm = [m, name, time.time(), None]
        with self.lock:
            self.removals.append(rm)
            self.serving[m] = None
        self.hub_call("DELETE", FED + "/memberclusters/" + name, ok=(404,))
        t_gone = self.wait_gone(name, "member-remove-rejoin")
        rm[3] = t_gone
        nm = [m, name, t_gone, None]
        with self.lock:
            self.no_mc.append(nm)
        out = self.check_left(m, name, snap, t_snap)
        ab.wait(f["hold"])   # out, while the load goes on (not placed there meanwhile: no_mc)
        nm[3] = time.time()
        self.create_mc(name, m, self.mc_secret[m])
        with self.lock:
            self.serving[m] = name
        ready = self.wait_ready(name, m)
        self.lifecycle["removed and rejoined"] += 1
        return "MemberCluster %s (%s) deleted, gone after %.1fs (%d copies: %s), out %.1fs, registered again: %s" % (
            name, "finalizer %s" % MC_FINALIZER if fin else "NO finalizer", t_gone - rm[2], len(snap), ", ".join("%s %d" % kv for kv in sorted(out.items())) or "-",
            nm[3] - t_gone, ready)

    def fault_force_leave(self, m, f, ab):
        name = self.serving[m]
        p = self.proxies[m]
        p.ctl("mode?set=cut")
        try:
            t_cut = time.time()
            t_unk = self.wait_mc(name, lambda mc: self.mc_ready(mc)[0] == "Unknown", 30)
            if t_unk is None:
                self.violation("%s: member-force-leave did not bite: MemberCluster %s not Ready=Unknown within 30s of "
                               "its link being cut (%s)" % (m, name, self.mc_now(name)))
            t_snap = time.time()
            snap = {k: o for k, o in self.member_copies(m).items() if self.copy_cluster(o) == name}
            with self.lock:
                self.serving[m] = None
            self.hub_call("DELETE", FED + "/memberclusters/" + name, ok=(404,))
            t_del = time.time()
            early = self.wait_mc(name, lambda mc: mc is None, 4)
            if early:
                leaving = "let go at once"
                self.violation("%s: MemberCluster %s, deleted while its member is unreachable, was let go %.1fs later "
                               "without force-leave (its copies neither removed nor released)" % (m, name, early - t_del))
                t_gone = early
            else:
                mc = self.hub_call("GET", FED + "/memberclusters/" + name, ok=(404,))
                leaving = [c for c in ((mc or {}).get("status") or {}).get("conditions") or [] if c.get("type") == "Leaving"]
                leaving = ("Leaving=%s %s" % (leaving[0].get("status"), leaving[0].get("reason"))) if leaving else "no Leaving condition"
                self.hub_call("PATCH", FED + "/memberclusters/" + name,
                              {"metadata": {"annotations": {ANN_FORCE_LEAVE: "true"}}},
                              ctype="application/merge-patch+json", ok=(404,))
                t_gone = self.wait_gone(name, "member-force-leave")
        finally:
            p.ctl("mode?set=pass")
        nm = [m, name, t_gone, None]
        with self.lock:
            self.no_mc.append(nm)
        # FederatedPodGroups with copies there deleted while it is out: on
        # rejoin the Delete strays go, the Orphan ones are released
        cands = {"Orphan": [], "Delete": []}
        for k, o in sorted(snap.items()):
            fm = self.fpgs.get(k)
            if fm and fm.state == "live" and not fm.deleted:
                cands[fm.policy].append((fm, o))
        chosen = []
        for pol in sorted(cands):
            chosen += self.fault_rng.sample(cands[pol], min(3, len(cands[pol])))
        for fm, o in chosen:
            self.delete_fpg(fm)
            with self.lock:
                (self.expect_released if fm.policy == "Orphan" else self.expect_gone).append(
                    (m, (fm.ns, fm.name), o["metadata"]["uid"]))
        t_strays = time.time()

        def hub_gone():
            for fm, _ in chosen:
                try:
                    self.hub.admin.get(self.fpg_path(fm))
                    return False
                except ApiError as e:
                    if e.status != 404:
                        return False
            return True
        gone_in = None
        while time.time() < t_strays + 10:
            if hub_gone():
                gone_in = time.time() - t_strays
                break
            time.sleep(0.5)
        ab.wait(f["hold"])
        nm[3] = time.time()
        self.create_mc(name, m, self.mc_secret[m])
        with self.lock:
            self.serving[m] = name
        ready = self.wait_ready(name, m)
        self.lifecycle["force-left and rejoined"] += 1
        self.lifecycle["strays made (Orphan)"] += sum(1 for fm, _ in chosen if fm.policy == "Orphan")
        self.lifecycle["strays made (Delete)"] += sum(1 for fm, _ in chosen if fm.policy == "Delete")
        return ("link cut, %s; MemberCluster %s deleted (%s), force-leave, gone %.1fs after the deletion; link back; "
                "%d of its %d copies' FederatedPodGroups deleted (%s), %s; out %.1fs; registered again: %s" % (
                    "Ready=Unknown after %.1fs" % (t_unk - t_cut) if t_unk else "NOT Ready=Unknown within 30s",
                    name, leaving, t_gone - t_del, len(chosen), len(snap),
                    ", ".join("%s %s" % (fm.name, fm.policy) for fm, _ in chosen) or "-",
                    "gone from the hub in %.1fs" % gone_in if gone_in is not None else "not all gone from the hub in 10s",
                    nm[3] - t_gone, ready))

    def fault_rename(self, m, f, ab):
        old = self.serving[m]
        new = m + "-renamed" if old == m else m
        sec_new = "member-" + new
        data = self.hub_call("GET", "/api/v1/namespaces/kclient-system/secrets/" + self.mc_secret[m])["data"]
        if self.hub_call("POST", "/api/v1/namespaces/kclient-system/secrets",
                         {"metadata": {"name": sec_new}, "data": data}, ok=(409,)) is None:
            self.hub_call("PATCH", "/api/v1/namespaces/kclient-system/secrets/" + sec_new, {"data": data},
                          ctype="application/merge-patch+json")
        dw = [m, old, new, time.time(), None]
        with self.lock:
            self.dup_windows.append(dw)
        self.create_mc(new, m, sec_new)
        t_dup = self.wait_mc(new, lambda mc: self.mc_ready(mc) == ("False", "DuplicateCluster"), 30)
        if t_dup is None:
            self.violation("%s: MemberCluster %s (the same cluster as %s) not Ready=False reason DuplicateCluster "
                           "within 30s: %s" % (m, new, old, self.mc_now(new)))
        # the overlap: the older one serves, the duplicate writes nothing
        end = time.time() + f["hold"]
        old_states = collections.Counter()
        while time.time() < end and not ab.is_set():
            old_states["%s %s" % self.mc_state(old)] += 1
            ab.wait(0.5)
        if any("DuplicateCluster" in k for k in old_states):
            self.violation("%s: the older MemberCluster %s was Duplicate while %s overlapped it (%s)" % (
                m, old, new, dict(old_states)))
        cur = self.member_copies(m)
        written = sorted(k for k, o in cur.items() if self.copy_cluster(o) == new)
        if written:
            self.violation("%s: %d copies labelled with the duplicate MemberCluster %s during the overlap, e.g. %s" % (
                m, len(written), new, ", ".join("%s/%s" % k for k in written[:8])))
        snap = {k: o for k, o in cur.items() if self.copy_cluster(o) == old}
        t_snap = time.time()
        with self.lock:
            self.name_timeline[m].append((t_snap, new))   # placement by the old name leaves the member
            self.serving[m] = new
            dw[4] = t_snap
        self.hub_call("DELETE", FED + "/memberclusters/" + old, ok=(404,))
        t_gone = self.wait_gone(old, "member-rename")
        out = self.check_left(m, old, snap, t_snap, handover_to=new)
        self.mc_secret[m] = sec_new
        ready = self.wait_ready(new, m, 60)
        self.lifecycle["renamed"] += 1
        return ("MemberCluster %s registered for the member of %s: %s; overlap %.1fs; %s deleted, gone after %.1fs, "
                "%d copies: %s; %s %s" % (
                    new, old, "DuplicateCluster after %.1fs" % (t_dup - dw[3]) if t_dup else "NOT DuplicateCluster",
                    t_snap - dw[3], old, t_gone - t_snap, len(snap),
                    ", ".join("%s %d" % kv for kv in sorted(out.items())) or "-", new, ready))

    def fault_secret_broken(self, m, f, ab):
        name = self.serving[m]
        path = "/api/v1/namespaces/kclient-system/secrets/" + self.mc_secret[m]
        orig = self.hub_call("GET", path)["data"]["kubeconfig"]
        junk = self.fault_rng.choice([b"this is not a kubeconfig\n", b"apiVersion: v1\nkind: Config\nclusters: [{{{\n",
                                      b"\x00\xff\xfe garbage \x01\x02"])
        self.hub_call("PATCH", path, {"data": {"kubeconfig": base64.b64encode(junk).decode()}},
                      ctype="application/merge-patch+json")
        t_break = time.time()
        seen = None
        last = None
        try:
            while True:
                now = time.time()
                if (now >= t_break + f["hold"] or ab.is_set()) and (seen or now >= t_break + max(f["hold"], 20)):
                    break
                last = self.mc_state(name)
                if seen is None and last == ("False", "KubeconfigInvalid"):
                    seen = time.time()
                time.sleep(0.5)
        finally:
            self.hub_call("PATCH", path, {"data": {"kubeconfig": orig}}, ctype="application/merge-patch+json")
        t_fix = time.time()
        with self.lock:
            self.broken_windows.append([m, name, seen, t_fix])
        if not seen:
            self.violation("%s: MemberCluster %s not Ready=False reason KubeconfigInvalid while its Secret held "
                           "garbage (%.1fs; last Ready %s %s)" % (m, name, t_fix - t_break, last[0], last[1]))
        ready = self.wait_ready(name, m, 60)
        self.lifecycle["Secrets broken"] += 1
        return "Secret %s garbage for %.1fs: %s; fixed: %s" % (
            self.mc_secret[m], t_fix - t_break,
            "KubeconfigInvalid after %.1fs" % (seen - t_break) if seen else "NOT KubeconfigInvalid", ready)

    def fault_hang(self, m, f, ab):
        c = self.clusters[m]
        name = self.serving[m]
        with open(os.path.join(c.dir, "pid")) as fh:
            pid = int(fh.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        if ("--dir %s " % c.dir) not in cmd:
            raise HarnessError("pid %d in %s/pid is not %s's control plane: %s" % (pid, c.dir, m, cmd[:200]))
        c.up.clear()   # the member load leaves it alone
        os.kill(pid, signal.SIGSTOP)
        with self.lock:
            self.hung[m] = pid
        t0 = time.time()
        unknown = None
        try:
            while time.time() < t0 + f["hold"] and not ab.is_set():
                if unknown is None and self.mc_state(name)[0] == "Unknown":
                    unknown = time.time()
                ab.wait(max(0.0, min(1.0, t0 + f["hold"] - time.time())))
        finally:
            os.kill(pid, signal.SIGCONT)
            with self.lock:
                self.hung.pop(m, None)
            c.up.set()
        held = time.time() - t0
        self.lifecycle["hangs"] += 1
        return "apiserver (pid %d) stopped (SIGSTOP) for %.1fs, then SIGCONT; %s" % (
            pid, held, "Ready=Unknown after %.1fs" % (unknown - t0) if unknown else "not seen Ready=Unknown")

    # -- while a member is Ready=Unknown its status entries are frozen --

    def stale_monitor(self):
        """Invariant (b): while a MemberCluster is Ready=Unknown, sample every
        FederatedPodGroup's status about once a second: the member's entry
        says stale: true (after STALE_GRACE) and keeps the values of its
        first stale sample; it may only go if the placement changed."""
        episodes = {}
        while not self.stop_monitor.is_set():
            t_loop = time.time()
            try:
                a = self.mc_states()
                unknown = set(n for n, (st, deleting) in a.items() if st == "Unknown" and not deleting)
                for n in list(episodes):
                    if n not in unknown:
                        self.end_episode(episodes.pop(n))
                if unknown:
                    fpgs = self.hub.admin.get(FED + "/federatedpodgroups")["items"]
                    c = self.mc_states(keep=True)
                    for n in sorted(unknown):
                        if c.get(n, (None, True)) != ("Unknown", False):
                            if n in episodes:
                                self.end_episode(episodes.pop(n))
                            continue
                        ep = episodes.setdefault(n, {"name": n, "t0": t_loop, "base": {}, "flagged": set(),
                                                     "samples": 0, "entries": 0, "bad": collections.defaultdict(list),
                                                     "mc": None, "deferred": []})
                        self.check_stale(ep, fpgs, time.time())
            except ApiError:
                pass
            self.report_episodes(wait=False)
            self.stop_monitor.wait(max(0.2, 1.0 - (time.time() - t_loop)))
        for ep in episodes.values():
            self.end_episode(ep)
        self.report_episodes(wait=True)

    def mc_states(self, keep=False):
        out = {}
        items = self.hub.admin.get(FED + "/memberclusters")["items"]
        now = time.time()
        for mc in items:
            out[mc["metadata"]["name"]] = (self.mc_ready(mc)[0], bool(mc["metadata"].get("deletionTimestamp")))
            st = self.mc_ready(mc)
            rl = self.mc_ready_log[mc["metadata"]["name"]]
            if not rl or rl[-1][1:] != st:
                rl.append((now,) + st)
        for n, rl in self.mc_ready_log.items():
            if n not in out and rl[-1][1] != "gone":
                rl.append((now, "gone", None))
        if keep:
            self.last_mcs = {mc["metadata"]["name"]: mc for mc in items}
        return out

    def settle_deferred(self, ep, wait):
        """Changes seen while the member could not be read are compared with
        the copy once the member answers again (up to 30 s after the
        episode). True when none is left."""
        while ep["deferred"]:
            key, b, vals, t, deleting = ep["deferred"][0]
            why = self.stale_change(ep["name"], key, b[0], vals, since=t)
            if why.startswith("defer") and time.time() < ep["t_end"] + 30:
                if not wait:
                    return False
                time.sleep(1.0)
                continue
            ep["deferred"].pop(0)
            if why.startswith("ok"):
                self.stale_stats["entries moved to what the member has (checked later)"] += 1
            elif key not in ep["flagged"]:
                ep["flagged"].add(key)
                ep["bad"]["changed (regressed) while stale"].append("%s/%s at %.1fs%s: %s at %.1fs, then %s (%s)" % (
                    key[0], key[1], t - T0, " (being deleted)" if deleting else "", b[0], b[1] - T0, vals, why))
        return True

    def end_episode(self, ep):
        """The episode is over; reported once its deferred changes are
        decided (see settle_deferred)."""
        ep["t_end"] = time.time()
        self.stale_pending.append(ep)
        self.report_episodes(wait=False)

    def report_episodes(self, wait):
        for ep in list(self.stale_pending):
            if self.settle_deferred(ep, wait):
                self.stale_pending.remove(ep)
                self.report_episode(ep)

    def report_episode(self, ep):
        self.stale_stats["episodes"] += 1
        self.stale_stats["samples"] += ep["samples"]
        self.stale_stats["entries compared"] += ep["entries"]
        log("stale check: %s Ready=Unknown for %.1fs: %d samples, %d entries followed, %d flagged" % (
            ep["name"], ep["t_end"] - ep["t0"], ep["samples"], ep["entries"], len(ep["flagged"])))
        for what, items in sorted(ep["bad"].items()):
            self.stale_stats["entries flagged: " + what] += len(items)
            self.violation("%d status entries of %s %s while it was Ready=Unknown (from %.1fs, %.1fs long; the "
                           "MemberCluster when first flagged: %s), e.g.:\n  %s" % (
                               len(items), ep["name"], what, ep["t0"] - T0, ep["t_end"] - ep["t0"], ep["mc"],
                               "\n  ".join(items[:4])))

    def stale_change(self, n, key, old, new, since=None):
        """An entry of Ready=Unknown MemberCluster n changed from old to new:
        "ok ..." when new is what the member really has (the operator may get
        an answer between the link coming back and the member being Ready
        again), else why it is a regression."""
        with self.lock:
            m = next((x for x, sn in self.serving.items() if sn == n), None)
            hung = m in self.hung
        since = since or time.time()
        if m is None:
            return "no member is served by %s" % n
        if hung and since >= time.time() - 1:
            return "%s is stopped (SIGSTOP): nothing can have been observed" % m
        ag_old, ag_new = old.get("appliedGeneration") or 0, new.get("appliedGeneration") or 0
        if ag_new < ag_old:
            return "appliedGeneration went back"
        try:
            c = self.clusters[m].admin.get("%s/namespaces/%s/podgroups/%s" % (pg_base(MEMBERS[m]["api"]), key[0], key[1]))
        except ApiError as e:
            c = None
            if not e.status:   # 0: transport
                # the member went away again (restart, cut) after answering
                # the operator: decided once it answers the soak
                return "defer: cannot read the copy on %s to compare: %s" % (m, e)
            if e.status != 404:
                return "cannot read the copy on %s to compare: %s" % (m, e)
            fm = self.fpgs.get(key)
            if since < time.time() - 1 and (fm is None or fm.delete_sent or
                                            any(ta >= since - 30 for ta, _, _ in fm.touched())):
                return "ok: the copy went since (its FederatedPodGroup was changed or deleted)"
        if ag_new > ag_old:
            have = ((c or {}).get("metadata", {}).get("annotations") or {}).get(ANN_GEN)
            if not have or int(have) < ag_new:
                return "appliedGeneration %s but the copy on %s is of generation %s" % (ag_new, m, have)
        counts = lambda v: (v.get("memberPhase"), v.get("running"), v.get("succeeded"), v.get("failed"))
        if counts(new) == counts(old):
            return "ok: acknowledged"
        cs = (c or {}).get("status") or {}
        cur = (cs.get("phase") or "Pending", cs.get("running", 0), cs.get("succeeded", 0), cs.get("failed", 0))
        if counts(new) == cur:
            return "ok: the copy's status"
        with self.lock:
            recent = [v for t, v in self.status_log.get((m, key[0], key[1]), []) if t >= since - 30]
        if counts(new) in recent:
            return "ok: a status the member had"
        return "the copy on %s has %s" % (m, cur)

    def check_stale(self, ep, fpgs, now):
        n = ep["name"]
        ep["samples"] += 1

        def flag(key, what, detail):
            if key in ep["flagged"]:
                return
            ep["flagged"].add(key)
            if ep["mc"] is None:
                ep["mc"] = self.mc_text(getattr(self, "last_mcs", {}).get(n))
            ep["bad"][what].append("%s/%s at %.1fs%s: %s" % (
                key[0], key[1], now - T0, " (being deleted)" if deleting else "", detail))
        for f in fpgs:
            md = f["metadata"]
            key = (md["namespace"], md["name"])
            deleting = bool(md.get("deletionTimestamp"))
            e = next((x for x in (f.get("status") or {}).get("clusters") or [] if x.get("clusterName") == n), None)
            b = ep["base"].get(key)
            if e is None:
                if b is None:
                    continue
                del ep["base"][key]
                fm = self.fpgs.get(key)
                with self.lock:
                    member = next((m for m, sn in self.serving.items() if sn == n), None)
                moved = (fm is None or fm.delete_sent or md.get("deletionTimestamp") or member is None or
                         not self.placed_on(fm.pl, member, now) or
                         any(kind == "placement" and ta >= b[1] - 30 for ta, kind, _ in fm.touched()))
                if not moved:
                    flag(key, "disappeared with no placement change", "it was %s; soak's actions: %s" % (
                        b[0], self.history_text(fm)))
                continue
            vals = dict((k, e.get(k)) for k in STALE_FIELDS)
            if not e.get("stale"):
                # nobody can write the status while the hub is down or no
                # leader renews the Lease: the grace starts when one can
                if now - max(ep["t0"], self.t_no_writer) > STALE_GRACE:
                    flag(key, "not stale %ds after Unknown (and a leader with a hub)" % STALE_GRACE, str(e))
                continue
            if b is None:
                ep["base"][key] = (vals, now)
                ep["entries"] += 1
            elif vals != b[0]:
                why = self.stale_change(n, key, b[0], vals)
                if why.startswith("defer"):
                    ep["deferred"].append((key, b, vals, now, deleting))
                    ep["base"][key] = (vals, now)
                elif why.startswith("ok"):
                    ep["base"][key] = (vals, now)   # an answer that did come (link back, Unknown not cleared yet)
                    self.stale_stats["entries moved to what the member has"] += 1
                else:
                    flag(key, "changed (regressed) while stale", "%s at %.1fs, then %s (%s)" % (
                        b[0], b[1] - T0, vals, why))

    # -- the invariants --

    def check_state(self):
        """Everything the federation must satisfy once it has settled.
        Returns a list of violations (empty: converged)."""
        v = []
        hub = self.hub.admin
        labels = {}
        with self.lock:
            phys = {n: m for m, n in self.serving.items() if n}   # MemberCluster name -> member
        for mc in hub.get(FED + "/memberclusters")["items"]:
            name = mc["metadata"]["name"]
            labels[name] = mc["metadata"].get("labels") or {}
            conds = [c for c in (mc.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
            if not conds or conds[0].get("status") != "True":
                v.append("MemberCluster %s: Ready=%s" % (name, conds[0].get("status") if conds else "none"))
            if name not in phys:
                v.append("MemberCluster %s: the soak did not leave it registered (members served by %s)" % (
                    name, sorted(phys)))
        for n in sorted(set(phys) - set(labels)):
            v.append("MemberCluster %s (member %s) is missing" % (n, phys[n]))
        labels = {n: l for n, l in labels.items() if n in phys}
        fpgs = hub.get(FED + "/federatedpodgroups")["items"]
        copies = {}   # by MemberCluster name
        sel = urllib.parse.quote(MANAGED_BY + "=kclient-federation")
        for n, m in phys.items():
            items = self.clusters[m].admin.get(pg_base(MEMBERS[m]["api"]) + "/podgroups?labelSelector=" + sel)["items"]
            copies[n] = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in items}
        live = set()
        for f in fpgs:
            md = f["metadata"]
            key = (md["namespace"], md["name"])
            live.add(key)
            k = "%s/%s" % key
            if md.get("deletionTimestamp"):
                v.append("%s: deletion not finished (finalizers %s)" % (k, md.get("finalizers")))
                continue
            if FINALIZER not in (md.get("finalizers") or []):
                v.append("%s: no finalizer" % k)
            spec, gen = f["spec"], md.get("generation")
            placed = placed_set(spec, labels)
            tmpl = spec.get("template") or {}
            want_min = (tmpl.get("spec") or {}).get("minMember")
            overrides = {o["clusterName"]: o for o in spec.get("overrides") or []}
            for n in sorted(phys):
                m = phys[n]
                c = copies[n].get(key)
                if n not in placed:
                    if c:
                        v.append("%s: copy on %s, which is not placed (placed: %s)" % (k, m, sorted(placed)))
                    continue
                if not c:
                    v.append("%s: no copy on %s (placed: %s)" % (k, m, sorted(placed)))
                    continue
                cmd = c["metadata"]
                cl = cmd.get("labels") or {}
                ann = cmd.get("annotations") or {}
                if (c.get("spec") or {}).get("minMember") != want_min:
                    v.append("%s: %s copy has minMember %s, want %s" % (k, m, (c.get("spec") or {}).get("minMember"), want_min))
                if ann.get(ANN_GEN) != str(gen):
                    v.append("%s: %s copy is of generation %s, want %s" % (k, m, ann.get(ANN_GEN), gen))
                if ann.get(ANN_UID) != md.get("uid"):
                    v.append("%s: %s copy belongs to hub uid %s, want %s" % (k, m, ann.get(ANN_UID), md.get("uid")))
                want_labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
                want_labels.update({MANAGED_BY: "kclient-federation", LABEL_NS: key[0], LABEL_NAME: key[1], LABEL_CLUSTER: n})
                for p in (overrides.get(n) or {}).get("patches") or []:
                    if p.get("path", "").startswith("/metadata/labels/"):
                        want_labels[p["path"].split("/", 3)[3]] = p.get("value")
                bad = {lk: (cl.get(lk), lv) for lk, lv in want_labels.items() if cl.get(lk) != lv}
                if bad:
                    v.append("%s: %s copy labels (have, want): %s" % (k, m, bad))
                if MEMBERS[m]["api"] == "Volcano" and (c.get("spec") or {}).get("queue") != (tmpl.get("spec") or {}).get("queue"):
                    v.append("%s: %s copy queue %s" % (k, m, (c.get("spec") or {}).get("queue")))
            missing = sorted(set(n for n in (spec.get("placement") or {}).get("clusterNames") or [] if n not in labels))
            v += self.check_status(k, f, placed, copies, missing)
        for key, fm in sorted(self.fpgs.items()):
            if key in live:
                continue
            for n in sorted(phys):
                m = phys[n]
                if key not in copies[n]:
                    continue
                if fm.delete_sent and fm.policy == "Orphan" and m in self.ever_placed(fm):
                    continue  # deletionPolicy Orphan: left behind on purpose
                why = ("deleted with deletionPolicy %s" % fm.policy) if fm.delete_sent else "never created on the hub"
                v.append("%s/%s: copy left on %s; the FederatedPodGroup was %s (soak's actions: %s)" % (
                    key[0], key[1], m, why, self.history_text(fm)))
        for n in sorted(phys):
            for key in copies[n]:
                if key not in self.fpgs:
                    v.append("%s/%s: copy on %s of a FederatedPodGroup the soak never made" % (key[0], key[1], phys[n]))
        # strays of a member that was away (member-force-leave): Delete ones go,
        # Orphan ones stay with the labels that tie them to the hub removed
        for m, key, uid, want in [x + ("released",) for x in self.expect_released] + [x + ("gone",) for x in self.expect_gone]:
            try:
                o = self.clusters[m].admin.get("%s/namespaces/%s/podgroups/%s" % (pg_base(MEMBERS[m]["api"]), key[0], key[1]))
            except ApiError as e:
                if e.status != 404:
                    raise
                o = None
            if not o or o["metadata"]["uid"] != uid:
                continue   # gone (if it was Orphan the audit says who deleted it)
            if want == "gone":
                v.append("%s/%s: the copy on %s (policy Delete) of a FederatedPodGroup deleted while the member "
                         "was away is still there (labels %s)" % (key[0], key[1], m, o["metadata"].get("labels")))
            elif MANAGED_BY in (o["metadata"].get("labels") or {}):
                v.append("%s/%s: the copy on %s (policy Orphan) of a FederatedPodGroup deleted while the member "
                         "was away is not released (labels %s)" % (key[0], key[1], m, o["metadata"].get("labels")))
        return v

    def check_status(self, k, f, placed, copies, missing=()):
        """missing: clusterNames no MemberCluster has (after a rename): an
        entry each, reason ClusterNotFound, counted as placed, not applied."""
        v = []
        md, spec, st = f["metadata"], f["spec"], f.get("status") or {}
        key, gen = (md["namespace"], md["name"]), md.get("generation")
        want = []
        for m in sorted(set(placed) | set(missing)):
            if m in missing:
                want.append({"clusterName": m, "memberPhase": "Pending", "running": 0, "succeeded": 0, "failed": 0,
                             "applied": False, "appliedGeneration": 0, "stale": False, "reason": "ClusterNotFound"})
                continue
            cs = (copies[m].get(key) or {}).get("status") or {}
            want.append({"clusterName": m, "memberPhase": cs.get("phase") or "Pending", "running": cs.get("running", 0),
                         "succeeded": cs.get("succeeded", 0), "failed": cs.get("failed", 0), "applied": True,
                         "appliedGeneration": gen, "stale": False})
        got = st.get("clusters") or []
        if st.get("observedGeneration") != gen:
            v.append("%s: status.observedGeneration %s, generation %s" % (k, st.get("observedGeneration"), gen))
        if [e.get("clusterName") for e in got] != [w["clusterName"] for w in want]:
            v.append("%s: status.clusters %s, placed on %s%s" % (
                k, [e.get("clusterName") for e in got], sorted(placed),
                " and names without a MemberCluster %s" % list(missing) if missing else ""))
        else:
            for e, w in zip(got, want):
                diff = {f2: (e.get(f2), w[f2]) for f2 in w if e.get(f2) != w[f2]}
                if diff:
                    v.append("%s: status.clusters[%s] (hub, member): %s" % (k, w["clusterName"], diff))
        n = len(want)
        phases = [normal_phase(w["memberPhase"]) for w in want]
        ready = phases.count("running")
        min_ready = min(spec.get("minReadyClusters", 1), n)
        if n == 0:
            phase = "Pending"
        elif "failed" in phases:
            phase = "Failed"
        elif phases.count("completed") == n:
            phase = "Completed"
        elif ready >= min_ready:
            phase = "Running"
        elif ready > 0:
            phase = "Degraded"
        else:
            phase = "Scheduling" if "scheduling" in phases else "Pending"
        expect = {"phase": phase, "placedClusters": n, "readyClusters": ready,
                  "running": sum(w["running"] for w in want), "succeeded": sum(w["succeeded"] for w in want),
                  "failed": sum(w["failed"] for w in want)}
        diff = {f2: (st.get(f2), x) for f2, x in expect.items() if st.get(f2) != x}
        if diff:
            v.append("%s: status (hub, from members): %s" % (k, diff))
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        wantc = {"Applied": "False" if missing else "True", "StatusFresh": "True",
                 "Ready": "True" if phase == "Running" else "False"}
        diff = {t: (conds.get(t), s) for t, s in wantc.items() if conds.get(t) != s}
        if diff:
            v.append("%s: conditions (hub, want): %s" % (k, diff))
        return v

    def check_deletions(self):
        self.read_apiserver_audit()
        why = collections.Counter()
        for d in sorted(self.deletions, key=lambda d: d["t"]):
            reason = self.explain_delete(d)
            if d["source"] == "apiserver-audit" and d["user"] != "writer":
                self.violation("%s: %s/%s deleted by %s, not the operator" % (d["member"], d["ns"], d["name"], d["user"]))
            m, t = d["member"], d["t"]
            broken = [w for w in self.broken_windows if w[0] == m and w[2] and w[2] <= t <= w[3]]
            if broken:
                self.violation("%s: %s/%s deleted at %.1fs (seen by %s) while MemberCluster %s had a broken kubeconfig "
                               "Secret (KubeconfigInvalid from %.1fs to %.1fs)" % (
                                   m, d["ns"], d["name"], t - T0, d["source"], broken[0][1], broken[0][2] - T0,
                                   broken[0][3] - T0))
            if reason and not reason.startswith("ORPHAN"):
                why[(d["source"], reason)] += 1
                continue
            hist = self.history_text(self.fpgs.get((d["ns"], d["name"])))
            if reason:
                why[(d["source"], reason)] += 1
                self.violation("%s: %s/%s, a copy of a FederatedPodGroup with deletionPolicy Orphan, deleted at %.1fs "
                               "(seen by %s; %s)%s with no placement change away from %s to explain it; faults around "
                               "then: %s; soak's actions on it: %s" % (
                                   m, d["ns"], d["name"], t - T0, d["source"], reason[7:], self.window_note(m, t), m,
                                   self.faults_around(t, m), hist))
                continue
            why[(d["source"], "UNEXPLAINED")] += 1
            self.violation("%s: %s/%s deleted at %.1fs (seen by %s)%s with no FederatedPodGroup deletion or placement "
                           "change to explain it; faults around then: %s; soak's actions on it: %s" % (
                               m, d["ns"], d["name"], t - T0, d["source"], self.window_note(m, t),
                               self.faults_around(t, m), hist))
        # nothing writes to a member that has no MemberCluster
        for m, name, t1, t2 in self.no_mc:
            ws = [w for w in self.member_writes[m] if t1 + 0.5 < w[0] < (t2 or time.time())]
            self.lifecycle["writes while no MemberCluster"] += len(ws)
            if ws:
                self.violation("%s: %d operator writes while it had no MemberCluster (%s gone at %.1fs, registered "
                               "again at %.1fs), e.g. %s" % (
                                   m, len(ws), name, t1 - T0, (t2 or time.time()) - T0,
                                   "; ".join("%.1fs %s %s/%s -> %s (%s)" % (w[0] - T0, w[1], w[2], w[3], w[4], w[5])
                                             for w in ws[:5])))
        # the overlap of a MemberCluster and its duplicate: no deletion storm
        for m, old, new, t1, t2 in self.dup_windows:
            ds = [d for d in self.deletions if d["member"] == m and d["source"] == "apiserver-audit"
                  and t1 <= d["t"] <= (t2 or time.time())]
            self.lifecycle["member DELETEs during duplicate overlaps"] += len(ds)
            log("duplicate overlap %s/%s on %s (%.1fs..%.1fs): %d member DELETEs (%s)" % (
                old, new, m, t1 - T0, (t2 or time.time()) - T0, len(ds),
                ", ".join("%s %d" % kv for kv in sorted(collections.Counter(
                    self.explain_delete(d) or "UNEXPLAINED" for d in ds).items())) or "none"))
        return why

    # -- the run as a whole, after the fact --

    def member_of(self, name):
        """The member a MemberCluster name serves (mN or mN-renamed)."""
        m = name[:-len("-renamed")] if name.endswith("-renamed") else name
        return m if m in MEMBERS else None

    def lease_secs(self):
        def secs(x):
            x = x.strip()
            return float(x[:-2]) / 1000 if x.endswith("ms") else float(x.rstrip("s"))
        return [secs(x) for x in self.a.lease.split(",")]

    def windows_for(self, m):
        """[(start, end, kind, blocking)]: what may delay member m's statuses:
        the faults on m, the hub-wide ones (hub restart; a leader killed,
        until the next term; any other time without a leader), the times its
        MemberCluster was not Ready=True, and the gaps of the soak's hub watch."""
        end_all = self.t_flow_end or time.time()
        out = []
        for s0, e0, kind, target in self.fault_timeline:
            e0 = e0 or end_all
            if kind == "leader-kill":
                nxt = [tm["start"] for tm in self.terms if tm["start"] >= s0]
                out.append((s0, max(e0, min(nxt) if nxt else s0 + self.lease_secs()[0]), kind, True))
            elif kind == "hub-restart" or target == m:
                out.append((s0, e0, kind, kind not in sc.NON_BLOCKING))
        for a, b in sc.leader_gaps(self.terms):
            out.append((a, b, "no-leader", True))
        for name, rl in self.mc_ready_log.items():
            if self.member_of(name) != m or name not in self.serving_names(m):
                continue
            t_bad = None
            for t, st, reason in rl:
                if st != "True" and t_bad is None:
                    t_bad = t
                elif st == "True" and t_bad is not None:
                    out.append((t_bad, t, "member-not-ready", True))
                    t_bad = None
            if t_bad is not None:
                out.append((t_bad, end_all, "member-not-ready", True))
        for a, b in self.hub_watch_gaps:
            out.append((a, b, "soak-hub-watch-gap", True))
        return out

    def serving_names(self, m):
        return set(n for _, n in self.name_timeline[m])

    def check_flow(self):
        """Invariant (c): every member status value followed to the hub.  For
        each member copy: the hub entry's values are the member's in order
        (never an older one after a newer one), every value the member held
        for the batch interval + REQUIRED_MARGIN outside fault windows
        (extended by FAULT_TAIL) reached the entry, and the latency (from when
        the member was reachable again) is within the bounds."""
        req_s = STATUS_BATCH_S + REQUIRED_MARGIN
        t_end = self.t_flow_end or time.time()
        keys = set(self.status_writes) | set(self.member_events)
        samples, missing, regressions = [], [], []
        values = 0
        wins = {m: self.windows_for(m) for m in MEMBERS}
        for key in sorted(keys):
            m, ns, name = key
            mseq = sc.member_sequence(self.status_writes.get(key, []), self.member_events.get(key, []))
            values += sum(1 for it in mseq if it["value"] is not None)
            obs = {n: self.hub_entries.seq[(n, ns, name)] for n in self.serving_names(m)
                   if (n, ns, name) in self.hub_entries.seq}
            f = self.fpgs.get((ns, name))
            cuts = sorted(t for t, kind, _ in (f.touched() if f else []) if kind in ("placement", "delete"))
            dels = [t for t, kind, _ in (f.touched() if f else []) if kind == "delete"]
            sm, mi, rg = sc.analyse_copy(mseq, obs, wins[m], cuts, t_end, req_s, FAULT_TAIL, STATUS_BATCH_S + 1.0,
                                         gone=min(dels) if dels else None)
            samples += [x + (m, ns, name) for x in sm]
            missing += [x + (m, ns, name) for x in mi]
            regressions += [x + (m, ns, name) for x in rg]
        with open(os.path.join(self.work, "status-flow.jsonl"), "w") as out:
            for lat, kinds, t0, v, m, ns, name in samples:
                out.write(json.dumps({"t": round(t0 - T0, 3), "member": m, "fpg": "%s/%s" % (ns, name), "value": v,
                                      "latency": round(lat, 3), "faults": kinds}) + "\n")
            for t0, t1, v, kinds, m, ns, name in missing:
                out.write(json.dumps({"t": round(t0 - T0, 3), "until": round(t1 - T0, 3), "member": m,
                                      "fpg": "%s/%s" % (ns, name), "value": v, "MISSING": True, "faults": kinds}) + "\n")
        lats = [x[0] for x in samples]
        by_kind = collections.defaultdict(list)
        for lat, kinds, *_ in samples:
            for k in kinds:
                by_kind[k].append(lat)
        self.flow = {"copies": len(keys), "values": values, "required": len(samples) + len(missing),
                     "reached": len(samples), "missing": len(missing), "regressions": len(regressions),
                     "overall": sc.summary(lats), "by_kind": {k: sc.summary(v) for k, v in by_kind.items()},
                     "hub_events": self.hub_entries.events, "gaps": len(self.hub_watch_gaps),
                     "required_after": req_s}
        T = lambda t: "%.1fs" % (t - T0)
        if regressions:
            self.violation("status flow: %d hub status entries showed a value out of the member's order (an older "
                           "value after a newer one, or one the member never had), e.g.:\n  %s" % (
                               len(regressions), "\n  ".join(
                                   "%s/%s on %s (entry %s) at %s: %s: %s; member values: %s; hub entry: %s" % (
                                       ns, name, m, cn, T(t), v, why, self.member_text(m, ns, name),
                                       self.hub_text(cn, ns, name))
                                   for cn, t, v, why, m, ns, name in regressions[:6])))
        if missing:
            self.violation("status flow: %d member status values held for %.1fs or more (outside fault windows + "
                           "%.0fs) never reached the hub entry, e.g.:\n  %s" % (
                               len(missing), req_s, FAULT_TAIL, "\n  ".join(
                                   "%s/%s on %s: %s from %s to %s (faults: %s); hub entry: %s" % (
                                       ns, name, m, v, T(t0), T(t1), ",".join(kinds),
                                       " | ".join(self.hub_text(cn, ns, name) for cn in sorted(self.serving_names(m))))
                                   for t0, t1, v, kinds, m, ns, name in missing[:6])))
        p99 = sc.pct(by_kind.get("none", []), 99)
        if p99 is not None and p99 > LATENCY_P99_NO_FAULT:
            self.violation("status flow: latency outside faults p99 %.2fs > %.1fs (%d samples)" % (
                p99, LATENCY_P99_NO_FAULT, len(by_kind["none"])))
        slow = sorted((x for x in samples if x[0] > LATENCY_MAX), key=lambda x: -x[0])
        if slow:
            self.violation("status flow: %d member status values reached the hub more than %.0fs after the member "
                           "had them (and was reachable), e.g.:\n  %s" % (
                               len(slow), LATENCY_MAX, "\n  ".join(
                                   "%s/%s on %s: %s at %s, on the hub %.1fs later (faults: %s)" % (
                                       ns, name, m, v, T(t0), lat, ",".join(kinds))
                                   for lat, kinds, t0, v, m, ns, name in slow[:6])))
        if not samples:
            self.violation("status flow: no member status value was followed to the hub (%d member copies, %d hub "
                           "entry changes seen)" % (len(keys), self.hub_entries.events))

    def member_text(self, m, ns, name):
        seq = sc.member_sequence(self.status_writes.get((m, ns, name), []), self.member_events.get((m, ns, name), []))
        return ", ".join("%.1fs %s" % (it["t"] - T0, "/".join(map(str, it["value"])) if it["value"] else "deleted")
                         for it in seq[-8:]) or "none"

    def hub_text(self, cn, ns, name):
        obs = self.hub_entries.seq.get((cn, ns, name)) or []
        return "%s: %s" % (cn, ", ".join("%.1fs %s%s" % (t - T0, "/".join(map(str, v)) if v else "absent",
                                                         " (%s)" % r if r and r != "Observed" else "")
                                         for t, v, r in obs[-8:]) or "none")

    def check_writers(self):
        """Invariant (d): at most one writer.  Every write of the operator to
        the hub (FederatedPodGroups, their status, MemberClusters, their
        status; the hub audit log) names its replica in the user agent and
        falls within a leadership term of that replica, reconstructed from
        the Lease (its writes in the audit log, and the soak's reads), which
        ends TERM_SLACK after the renew deadline that follows its last renewal."""
        dur, deadline, retry = self.lease_secs()
        self.terms = sc.lease_terms(self.lease_writes, self.lease_samples, deadline, 2 * retry, TERM_SLACK)
        checked, bad = sc.check_writers(self.op_hub_writes, self.terms, TERM_SLACK)
        self.writer_stats = collections.Counter({"writes checked": checked, "terms": len(self.terms),
                                                 "Lease writes": len(self.lease_writes),
                                                 "Lease reads": len(self.lease_samples),
                                                 "outside a term": len(bad)})
        if not self.lease_writes:
            self.violation("one writer: no Lease write in the hub audit log: leadership terms cannot be known")
        if not checked:
            self.violation("one writer: no operator write in the hub audit log to check")
        # a replica that stepped down (lost leadership: it exits) never takes
        # the Lease again: else it holds it, doing nothing, and no standby can
        # take over until its exit
        lost = {}
        for t, rname, msg, e in self.op_log_events():
            if msg.startswith("lost leadership") and rname not in lost:
                lost[rname] = t
        again = collections.defaultdict(list)
        for t, t_done, ident, holder, acq, acq_t in self.lease_writes:
            if ident in lost and holder == ident and t > lost[ident] + 0.2:
                again[ident].append(t)
        self.writer_stats["Lease renewals after losing leadership"] = sum(len(v) for v in again.values())
        for ident, ts in sorted(again.items()):
            self.violation("one writer: %s logged \"lost leadership\" at %.1fs and then wrote the Lease as its holder "
                           "%d times (%.1fs..%.1fs): a replica on its way out held the lease, and no standby could "
                           "take over until it let go (next leader from %s)" % (
                               ident, lost[ident] - T0, len(ts), min(ts) - T0, max(ts) - T0,
                               ", ".join("%s at %.1fs" % (tm["id"], tm["start"] - T0) for tm in self.terms
                                         if tm["start"] > lost[ident])[:80] or "none"))
        if bad:
            self.violation("one writer: %d of %d operator writes to the hub were made outside the writer's "
                           "leadership term (or without its user agent), e.g.:\n  %s" % (
                               len(bad), checked, "\n  ".join("%.3fs %s %s: %s" % (t - T0, ident, what, why)
                                                             for t, ident, what, why in bad[:8])))

    def op_log_events(self):
        """The operators' log lines the fault checks need: [(t, replica, msg, fields)]."""
        if getattr(self, "_op_logs", None) is not None and self.stopping_ops:
            return self._op_logs
        keep = re.compile(r"member cluster probe failed|no answer from|relisting|watch dropped|list failed|"
                          r"^lease |^retrying |status write failed|started leading|lost leadership|cannot watch")
        out = []
        for r in self.replicas:
            try:
                fh = open(r.log, errors="replace")
            except OSError:
                continue
            with fh:
                for raw in fh:
                    if not raw.startswith("{"):
                        continue
                    try:
                        e = json.loads(raw)
                    except ValueError:
                        continue
                    msg = e.get("msg", "")
                    if keep.search(msg):
                        out.append((parse_ts(e.get("ts", "")), r.name, msg, e))
        out.sort(key=lambda x: x[0])
        self._op_logs = out
        return out

    def check_bites(self):
        """Every fault kind of the plan ran and bit: each fault shows its
        effect, or the run fails (README, "Faults bite")."""
        logs = self.op_log_events()
        proxy_url = {m: "127.0.0.1:%d" % p.listen for m, p in self.proxies.items()}
        hub_url = "127.0.0.1:%d" % self.hub.port
        planned = collections.Counter(p["kind"] for p in self.plan)
        for kind in sorted(planned):
            if not self.faults_done.get(kind):
                self.violation("fault kind %s was planned (%d) but never ran (skipped %d): it is not exercised" % (
                    kind, planned[kind], self.faults_skipped.get(kind, 0)))
        bad = []
        for entry in self.fault_timeline:
            s0, e0, kind, target = entry
            e0 = e0 or time.time()
            ev = self.fault_evidence.get(id(entry), {})
            win = (s0, e0 + BITE_WINDOW)
            inwin = lambda t, w=win: w[0] <= t <= w[1]
            proof = None
            if kind in ("link-cut", "link-blackhole", "member-restart", "member-hang"):
                names = self.serving_names(target)
                unk = [t for n in names for t, st, _ in self.mc_ready_log.get(n, []) if st == "Unknown" and inwin(t)]
                probe = [t for t, _, msg, e in logs if msg == "member cluster probe failed" and e.get("cluster") in names
                         and inwin(t)]
                dead = [t for t, _, msg, e in logs if "no answer from" in msg and proxy_url[target] in msg and inwin(t)]
                if unk or probe or dead:
                    proof = "; ".join(x for x in (
                        "Ready=Unknown %.1fs after it began" % (min(unk) - s0) if unk else "",
                        "%d probe failures logged" % len(probe) if probe else "",
                        "%d dead links" % len(dead) if dead else "") if x)
            elif kind == "link-latency":
                if ev.get("rtt") is not None and ev["rtt"] >= ev.get("ms", 0) / 1000.0:
                    proof = "a request through the proxy took %.0f ms (%d ms a chunk)" % (ev["rtt"] * 1000, ev["ms"])
            elif kind == "link-reset":
                if ev.get("reset", 0) >= 1:
                    proof = "%d connections reset" % ev["reset"]
            elif kind == "compaction":
                t_c = ev.get("t_compact", s0)
                w = (t_c, e0 + BITE_WINDOW + 10)
                rel = [t for t, _, msg, _ in logs if msg.startswith("informer podgroups:") and "relisting" in msg
                       and w[0] <= t <= w[1]]
                lists = [t for t, verb, res, code in self.member_reads[target] if verb == "list" and res == "podgroups"
                         and w[0] <= t <= w[1]]
                if rel and lists:
                    proof = "the operator relisted (%s) and %s saw its LIST %.1fs after the compaction" % (
                        next(msg for t, _, msg, _ in logs if t == rel[0])[:120], target, lists[0] - t_c)
            elif kind == "throttle-429":
                n429 = [t for t, *_x, code in self.member_reads[target] if code == 429 and inwin(t)]
                n429 += [w[0] for w in self.member_writes[target] if w[4] == 429 and inwin(w[0])]
                inc = self.metric_increase(target, "429", s0, e0 + BITE_WINDOW)
                if n429 or inc:
                    proof = "%d requests answered 429 (audit), %d (operator metrics)" % (len(n429), inc)
            elif kind == "leader-kill":
                new = [tm for tm in self.terms if tm["id"] != ev.get("killed") and s0 <= tm["start"] <=
                       s0 + self.lease_secs()[0] + BITE_WINDOW]
                if ev.get("killed") and new:
                    proof = "Lease holder %s -> %s %.1fs after the kill" % (ev["killed"], new[0]["id"], new[0]["start"] - s0)
            elif kind == "hub-restart":
                fail = [t for t, _, msg, _ in logs if inwin(t) and (
                    re.match(r"informer (federatedpodgroups|memberclusters|secrets): (watch dropped|list failed)", msg)
                    or re.match(r"lease \S+: (write failed|not renewed)", msg) or (hub_url in msg and "no answer" in msg))]
                inc = self.metric_increase("hub", "<error>", s0, e0 + BITE_WINDOW)
                back = [t for t, *_x in self.lease_writes if t > e0]
                if (fail or inc) and back:
                    proof = "%d hub failures logged, %d failed requests (metrics); Lease written again %.1fs after" % (
                        len(fail), inc, min(back) - e0)
            else:
                proof = "its own checks"   # lifecycle faults: each checks its effect as it runs
            if proof:
                self.bites[kind] += 1
                ev["proof"] = proof
            else:
                bad.append("%s on %s at %.1fs..%.1fs" % (kind, target, s0 - T0, e0 - T0))
        if bad:
            self.violation("%d faults did not bite (no effect seen within %.0fs of their end): %s" % (
                len(bad), BITE_WINDOW, "; ".join(bad)))

    def metric_increase(self, target, code, t1, t2):
        """How much the operators' rest_client_requests_total{target, code}
        grew between t1 and t2 (per replica, from the scrapes)."""
        tot = 0
        per = collections.defaultdict(list)
        for t, rname, req in self.metric_series:
            per[rname].append((t, req.get((target, code), 0)))
        for rname, ser in per.items():
            before = [v for t, v in ser if t <= t1]
            after = [v for t, v in ser if t1 < t <= t2]
            if after:
                tot += max(after) - (before[-1] if before else 0)
        return int(tot)

    def check_goaway(self):
        """HTTP/2 GOAWAY happened (--goaway-chance on GOAWAY_CLUSTERS): curl
        (libcurl, HTTP/2) had to open new connections to them and not to the
        others (goaway_probe, run after the settle); the operators opened
        connections to each (sampled; more where GOAWAY closes them); the
        soak's own kubectl watches saw "server sent GOAWAY"; control planes
        closed connections first (their side in TIME_WAIT) outside restarts."""
        res = {}
        for name, c in self.clusters.items():
            restarts = [(s0, (e0 or time.time()) + 5) for s0, e0, kind, target in self.fault_timeline
                        if target == name and kind in ("member-restart", "hub-restart", "throttle-429", "member-hang")]
            ts = self.closes.closes.get(c.port, []) if self.closes else []
            kubectl = 0
            for fn in ("hub-watch.err",) if name == "hub" else ("audit-watch-%s.err" % name,):
                try:
                    kubectl += open(os.path.join(self.work, fn), errors="replace").read().count("server sent GOAWAY")
                except OSError:
                    pass
            conns, ok = self.goaway_probes.get(name, (0, 0))
            res[name] = {"curl new connections": max(0, conns - 1), "curl requests ok": ok,
                         "operator connections": self.op_conns.counts().get(name, 0) if self.op_conns else 0,
                         "kubectl watches ended by GOAWAY": kubectl,
                         "closed first by the server (outside restarts)": len(
                             [t for t in ts if not any(a <= t <= b for a, b in restarts)])}
        self.goaway = res
        for name in GOAWAY_CLUSTERS:
            if res[name]["curl new connections"] < 1:
                self.violation("GOAWAY: %s runs with --goaway-chance=%g but curl's %d requests over HTTP/2 never had "
                               "to reconnect (%s)" % (name, GOAWAY_CHANCE, GOAWAY_PROBES, res[name]))

    # -- the run --

    def run(self):
        self.setup()
        plan = self.make_plan()
        with open(os.path.join(self.work, "fault-plan.json"), "w") as f:
            json.dump(plan, f, indent=1)
        log("soak: %ds, seed %d, %d FederatedPodGroups, %d faults planned (%s)" % (
            self.a.duration, self.seed, self.a.fpgs, len(plan),
            ", ".join("%s %d" % (k, n) for k, n in collections.Counter(p["kind"] for p in plan).items())))
        self.plan = plan
        self.t_soak_start = time.time()
        loaders = [self.bg("hub-load", self.hub_load), self.bg("member-load", self.member_load)]
        sampler = self.bg("hub-sampler", self.sample_hub)
        monitor = self.bg("stale-monitor", self.stale_monitor)
        faults = self.bg("faults", self.run_faults, plan)
        progress_at = time.time() + 30
        while time.time() < self.t_soak_start + self.a.duration and not self.harness_errors:
            time.sleep(0.5)
            if time.time() >= progress_at:
                progress_at += 30
                self.progress()
        self.stop_load.set()
        self.stop_faults.set()
        for t in loaders + [faults]:
            t.join()
        self.stop_monitor.set()
        monitor.join()
        self.t_soak_end = time.time()
        self.restore()
        self.t_quiet = time.time()
        if self.harness_errors:
            return
        res = self.resolve_attempts()
        log("hub writes of the load, by the hub audit log: %s" % ", ".join("%s %d" % kv for kv in sorted(res.items())))
        log("load and faults stopped; settling (up to %ds)" % self.a.settle)
        self.settle()
        if self.t_converged and self.t_converged - self.t_last_fault > CONVERGE_BOUND:
            self.violation("converged %.1fs after the last fault: more than the bound of %.0fs" % (
                self.t_converged - self.t_last_fault, CONVERGE_BOUND))
        self.t_flow_end = time.time()
        self.hub_watch_stop.set()
        p = self.audit_procs.get("hub")
        if p and p.poll() is None:
            p.kill()
        sampler.join()
        self.goaway_probes = self.goaway_probe()
        self.why_deleted = self.check_deletions()
        self.stop_operators()
        self.read_hub_audit()
        if not self.hub_audit_events:
            self.violation("hub: the audit log %s is %s: the one-writer and hub-write checks cannot be made" % (
                os.path.join(self.hub.dir, "audit.log"),
                "empty" if os.path.exists(os.path.join(self.hub.dir, "audit.log")) else "missing"))
        log("after-the-fact checks: one writer, status flow, faults bit, GOAWAY")
        self.check_writers()
        self.check_flow()
        self.check_bites()
        self.check_goaway()

    def progress(self):
        with self.lock:
            live = sum(1 for f in self.fpgs.values() if f.state == "live" and not f.deleted)
        log("progress: %d created, %d updated, %d deleted, %d live; %d member status changes; faults %s; replicas %s" % (
            self.counts["create"], self.counts["update"], self.counts["delete"], live, sum(self.status_changes.values()),
            sum(self.faults_done.values()), ", ".join(r.name for r in self.live())))

    def restore(self):
        """Faults undo themselves; make sure nothing is left behind."""
        self.resume_hung()
        with self.lock:
            absent = [m for m, n in self.serving.items() if not n]
        if absent:
            raise HarnessError("members without a MemberCluster after the faults: %s" % absent)
        for m, p in self.proxies.items():
            st = p.ctl("mode?set=pass")
            p.ctl("latency?ms=0")
            if st.get("mode") != "pass":
                raise HarnessError("proxy %s still in %s" % (m, st.get("mode")))
        for c in self.clusters.values():
            if subprocess.run([LOCAL_CLUSTER, "status", c.dir], capture_output=True).returncode:
                log("%s is not running after the faults: starting it" % c.name)
                c.start()
            elif c.extra:
                log("%s still runs with %s after the faults: restarting it" % (c.name, " ".join(c.extra)))
                c.restart(0)
        if self.t_last_fault is None:
            self.t_last_fault = time.time()

    def settle(self):
        deadline = self.t_quiet + self.a.settle
        first_ok = None
        last = []
        next_note = self.t_quiet + 15
        while True:
            try:
                last = self.check_state()
            except ApiError as e:
                last = ["cannot read state: %s" % e]
            now = time.time()
            if not last:
                if first_ok is None:
                    first_ok = now
                elif now - first_ok >= 3:   # twice in a row, some seconds apart
                    self.t_converged = first_ok
                    log("converged %.1fs after the last fault (%.1fs after the load stopped)" % (
                        first_ok - self.t_last_fault, first_ok - self.t_soak_end))
                    return
            else:
                first_ok = None
                if now >= next_note:
                    next_note = now + 15
                    log("converging: %d violations left, e.g. %s" % (len(last), "; ".join(last[:3])))
            if now > deadline:
                break
            time.sleep(2)
        self.violation("did not converge within %ds after the faults stopped; %d violations remain, first ones:\n  %s" % (
            self.a.settle, len(last), "\n  ".join(last[:40])))

    def stop_operators(self):
        self.stopping_ops = True
        live = self.live()
        for r in live:
            r.termed = True
            r.proc.send_signal(signal.SIGTERM)
        for r in live:
            t0 = time.time()
            try:
                r.proc.wait(25)
            except subprocess.TimeoutExpired:
                self.violation("operator replica %s did not exit within 25s of SIGTERM" % r.name)
                r.proc.kill()
                r.proc.wait()
            r.exit = r.proc.returncode
            r.outcome, tail = self.classify_exit(r)
            if r.outcome != "stopped":
                self.violation("operator replica %s: exit status %s after SIGTERM (%.1fs); log tail:\n%s" % (
                    r.name, r.exit, time.time() - t0, "\n".join(tail.splitlines()[-25:])))
        for r in self.replicas:   # the ones that ended during the soak were classified by the supervisor
            if r.exit is None and r.proc.poll() is not None:
                r.exit = r.proc.returncode
                r.outcome, tail = self.classify_exit(r)
                if r.outcome == "UNEXPECTED":
                    self.violation("operator replica %s exited unexpectedly (status %s); log tail:\n%s" % (
                        r.name, r.exit, "\n".join(tail.splitlines()[-25:])))

    def resume_hung(self):
        with self.lock:
            hung = list(self.hung.items())
        for m, pid in hung:
            log("%s still stopped after the faults: SIGCONT to %d" % (m, pid))
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
            with self.lock:
                self.hung.pop(m, None)
            self.clusters[m].up.set()

    def teardown(self):
        self.hub_watch_stop.set()
        self.stop_load.set()
        self.stop_faults.set()
        self.stop_monitor.set()
        self.resume_hung()
        self.stopping_ops = True
        self.audit_stop.set()
        for p in list(self.audit_procs.values()):
            if p.poll() is None:
                p.kill()
        for r in self.replicas:
            if r.proc.poll() is None:
                r.killed = True   # the soak is ending: not a crash
                r.proc.kill()
                r.proc.wait()
        for p in self.proxies.values():
            p.close()
        self.parallel([lambda c=c: c.stop(timeout_s=5) for c in self.clusters.values()])

    # -- figures --

    def scan_logs(self):
        classes = collections.Counter()
        transitions = collections.Counter()
        crashes = []
        for r in self.replicas:
            with open(r.log, errors="replace") as f:
                for raw in f:
                    if CRASH_RE.search(raw):
                        crashes.append("%s: %s" % (r.name, raw.strip()[:300]))
                    try:
                        e = json.loads(raw)
                    except ValueError:
                        classes["(non-JSON log line)"] += 1
                        continue
                    msg, lvl = e.get("msg", ""), e.get("level")
                    if msg == "member cluster ready changed":
                        transitions["%s->%s" % (e.get("cluster"), e.get("ready"))] += 1
                        continue
                    if lvl not in ("error", "warning") and not msg.startswith("retrying") and "relisting" not in msg:
                        continue
                    classes[self.classify_line(msg, e)] += 1
        return classes, transitions, crashes

    @staticmethod
    def text_class(text):
        m = re.search(r"HTTP (\d{3})( [A-Za-z]+)?", text)
        if m:
            return "HTTP %s%s" % (m.group(1), m.group(2) or "")
        for key in ("waiting for offline members", "member copies being deleted", "timed out", "transport error",
                    "cancelled", "Too Many Requests", "Gone", "Conflict", "Service Unavailable", "Internal Server Error",
                    "too old", "Expired"):
            if key in text:
                return key
        return re.sub(r"\d+", "N", text)[:70]

    def classify_line(self, msg, e):
        if msg == "reconcile failed":
            return "reconcile failed: " + self.text_class(e.get("error", ""))
        if msg == "status write failed":
            return "hub status write failed: %s (%s)" % (e.get("outcome"), self.text_class(e.get("error", "")))
        if msg == "member status write failed":
            return "MemberCluster status write failed: " + self.text_class(e.get("error", ""))
        if msg.startswith("retrying"):
            m = re.search(r" after (.*?) \(attempt", msg)
            return "request retried: " + (m.group(1) if m else "?")
        if "relisting" in msg:
            return "informer relist (watch expired: 410 Gone)" if re.search(r"410|too old|Expired|Gone", msg) else \
                "informer relist: " + self.text_class(msg)
        if "no answer from" in msg:
            return "dead link detected (connections dropped)"
        if "list failed" in msg:
            return "informer list failed: " + self.text_class(msg)
        if "not renewed" in msg:
            return "lease not renewed in time"
        if "lost leadership" in msg:
            return "lost leadership (exit)"
        return "%s: %s" % (e.get("level"), re.sub(r"\d+", "N", msg)[:80])

    def metrics_totals(self, replicas=None):
        port_names = {self.hub.port: "hub"}
        for m, p in self.proxies.items():
            port_names[p.listen] = m
        req = collections.Counter()
        other = collections.Counter()
        sample = re.compile(r'^([a-z_]+)(?:\{(.*)\})? ([0-9.eE+-]+)$')
        for r in (self.replicas if replicas is None else replicas):
            for line in r.metrics_text.splitlines():
                mt = sample.match(line)
                if not mt:
                    continue
                name, lbl, val = mt.group(1), dict(re.findall(r'(\w+)="([^"]*)"', mt.group(2) or "")), float(mt.group(3))
                if name == "rest_client_requests_total":
                    port = int(re.sub(r".*:(\d+)/?$", r"\1", lbl.get("host", ":0")) or 0)
                    req[(port_names.get(port, lbl.get("host")), lbl.get("code"))] += val
                elif name == "controller_runtime_reconcile_total":
                    other["reconciles " + lbl.get("result", "")] += val
                elif name == "kclient_member_writes_total":
                    other["member writes " + lbl.get("verb", "")] += val
                elif name in ("kclient_status_writes_total", "kclient_status_batches_total", "workqueue_retries_total",
                              "kclient_member_dead_links_total"):
                    other[name] += val
        return req, other

    def report(self, why_deleted):
        D = lambda t: "%.1fs" % t if t is not None else "-"
        print("\n== soak figures (seed %d; replay with --seed %d --duration %d)" % (self.seed, self.seed, self.a.duration))
        soak = (self.t_soak_end or time.time()) - (self.t_soak_start or T0)
        conv = (self.t_converged - self.t_last_fault) if self.t_converged and self.t_last_fault else None
        print("duration: %.0fs of load and faults; setup %s; total %.0fs" % (
            soak, D((self.t_soak_start or T0) - T0), time.time() - T0))
        print("time to converge after the last fault: %s (bound %.0fs)" % (
            D(conv) if conv is not None else "DID NOT CONVERGE", CONVERGE_BOUND))
        never = [k for k in FAULT_WEIGHTS if not self.faults_done.get(k)]
        if never:
            print("fault kinds that did not run: %s" % ", ".join(never))
        print("faults injected: %d (%s)%s" % (
            sum(self.faults_done.values()), ", ".join("%s %d" % kv for kv in sorted(self.faults_done.items())),
            ("; skipped: " + ", ".join("%s %d" % kv for kv in sorted(self.faults_skipped.items()))) if self.faults_skipped else ""))
        with self.lock:
            live = sum(1 for f in self.fpgs.values() if f.state == "live" and not f.deleted)
        c = self.counts
        print("FederatedPodGroups: %d created (Delete %d, Orphan %d), %d updated (spec %d, placement %d), "
              "%d deleted (Delete %d, Orphan %d); %d live at the end" % (
                  c["create"], c["create-Delete"], c["create-Orphan"], c["update"], c["update-spec"],
                  c["update-placement"], c["delete"], c["delete-Delete"], c["delete-Orphan"], live))
        print("member status changes: %d (%s)" % (sum(self.status_changes.values()),
                                                  ", ".join("%s %d" % kv for kv in sorted(self.status_changes.items()))))
        if self.op_errors:
            print("soak's own requests that failed (expected under faults): %s" % ", ".join(
                "%s %d" % kv for kv in sorted(self.op_errors.items())))
        lat = sorted(dt for t, dt, ok in self.hub_latency if ok == "ok")
        if lat:
            print("hub latency seen by the soak (lease GET every 0.5s): p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d failed" % (
                lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000, lat[-1] * 1000,
                sum(1 for x in self.hub_latency if x[2] != "ok")))
        outcomes = collections.Counter(r.outcome or "running" for r in self.replicas)
        print("operator replicas: %d started; %s" % (len(self.replicas), ", ".join("%s %d" % kv for kv in sorted(outcomes.items()))))
        req, other = self.metrics_totals()
        by_target = collections.defaultdict(list)
        for (target, code), n in sorted(req.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            by_target[target].append("%s %d" % (code, n))
        print("operator requests by target and code (metrics, summed over replicas):")
        for target in sorted(by_target, key=str):
            print("  %-4s %s" % (target, ", ".join(by_target[target])))
        print("operator counters: %s" % ", ".join("%s %d" % kv for kv in sorted(other.items())))
        classes, transitions, crashes = self.scan_logs()
        print("operator errors and warnings by class (logs):")
        for cls, n in classes.most_common():
            print("  %6d  %s" % (n, cls))
        print("member Ready transitions (logs): %s" % (", ".join("%s %d" % kv for kv in sorted(transitions.items())) or "none"))
        print("member lifecycle: %s" % (", ".join("%s %d" % kv for kv in sorted(self.lifecycle.items())) or "none"))
        print("membership at the end: %s" % ", ".join("%s served by %s" % kv for kv in sorted(self.serving.items())))
        print("stale entries while Ready=Unknown (sampled ~1/s): %s" % (
            ", ".join("%s %d" % kv for kv in sorted(self.stale_stats.items())) or "no Ready=Unknown episode seen"))
        fl = self.flow
        if fl:
            L = lambda x: "%d samples, p50 %.2fs, p99 %.2fs, max %.2fs" % (x[0], x[1], x[2], x[3]) if x[0] else "no samples"
            print("status flow (member -> hub, one value at a time): %d member copies, %d member values, %d hub entry "
                  "changes seen (%d watch events, %d gaps); %d values held %.1fs or more outside faults: %d reached the "
                  "hub, %d missing; %d out of order" % (
                      fl["copies"], fl["values"], sum(len(v) for v in self.hub_entries.seq.values()), fl["hub_events"],
                      fl["gaps"], fl["required"], fl["required_after"], fl["reached"], fl["missing"], fl["regressions"]))
            print("  latency overall: %s (bounds: p99 outside faults <= %.1fs, max <= %.0fs)" % (
                L(fl["overall"]), LATENCY_P99_NO_FAULT, LATENCY_MAX))
            for k in sorted(fl["by_kind"], key=lambda k: (k != "none", k)):
                print("  %-22s %s" % (k + ":" if k != "none" else "outside faults:", L(fl["by_kind"][k])))
        if self.writer_stats:
            print("one writer (hub audit): %s; terms: %s" % (
                ", ".join("%s %d" % kv for kv in sorted(self.writer_stats.items())),
                ", ".join("%s %.1fs..%.1fs" % (tm["id"], tm["start"] - T0, tm["end"] - T0) for tm in self.terms)))
        if self.attempt_outcomes:
            print("hub writes of the load (hub audit): %s" % ", ".join("%s %d" % kv for kv in sorted(self.attempt_outcomes.items())))
        if self.bites or self.fault_timeline:
            print("faults that bit: %s" % ", ".join("%s %d/%d" % (k, self.bites.get(k, 0), n) for k, n in sorted(
                collections.Counter(e[2] for e in self.fault_timeline).items())))
        if self.goaway:
            print("HTTP/2 GOAWAY (--goaway-chance=%g on %s):" % (GOAWAY_CHANCE, ", ".join(GOAWAY_CLUSTERS)))
            for n, d in sorted(self.goaway.items()):
                print("  %-4s %s" % (n, ", ".join("%s %d" % kv for kv in sorted(d.items()))))
        print("audit: member copies deleted: %s" % (", ".join("%s/%s %d" % (s, w, n) for (s, w), n in sorted(why_deleted.items())) or "none"))
        for line in crashes[:20]:
            self.violation("crash signature in operator log: " + line)
        return crashes


def main():
    ap = argparse.ArgumentParser(description="Chaos soak of the federation operator.")
    ap.add_argument("--duration", type=int, default=180, help="seconds of load and faults (default 180)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock; printed)")
    ap.add_argument("--fpgs", type=int, default=500, help="FederatedPodGroups to create (default 500)")
    ap.add_argument("--create-rate", type=float, default=4.0, help="creates per second until --fpgs are made")
    ap.add_argument("--status-rate", type=float, default=6.0, help="member status changes per second")
    ap.add_argument("--settle", type=int, default=180, help="seconds allowed to converge after the faults")
    ap.add_argument("--lease", default="8s,6s,1s", help="operator lease duration, renew deadline, retry period")
    ap.add_argument("--operator-v", type=int, default=2, help="operator log verbosity")
    ap.add_argument("--workdir", default=None, help="work directory (default: a new one under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory even when the soak passes")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = int(time.time() * 1000) % 1000000
    if a.workdir is None:
        a.workdir = tempfile.mkdtemp(prefix="kc-soak.")
    os.makedirs(a.workdir, exist_ok=True)
    global _log_file
    _log_file = open(os.path.join(a.workdir, "soak.log"), "a")
    log("seed %d (replay: %s --seed %d --duration %d); time 0 is %s" % (
        a.seed, sys.argv[0].replace(".py", ".sh"), a.seed, a.duration,
        datetime.datetime.fromtimestamp(T0, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")))

    def on_term(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    s = Soak(a)
    interrupted = False
    try:
        s.run()
    except HarnessError as e:
        log("HARNESS ERROR: %s" % e)
        s.harness_errors.append(str(e))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted")
    except Exception:
        tb = traceback.format_exc()
        log("HARNESS ERROR:\n%s" % tb)
        s.harness_errors.append(tb.strip().splitlines()[-1])
    finally:
        try:
            s.teardown()
        except Exception:
            log("teardown: %s" % traceback.format_exc())
    try:
        s.report(s.why_deleted)
    except Exception:
        log("cannot print the figures: %s" % traceback.format_exc())
    ok = not s.violations and not s.harness_errors and not interrupted
    print("\n== %s: %d violations, %d harness errors; work directory %s%s" % (
        "PASS" if ok else "FAIL", len(s.violations), len(s.harness_errors), a.workdir,
        "" if ok and not a.keep else " (kept)"))
    if s.violations:
        print("violations:")
        for v in s.violations[:60]:
            print("  - " + v.replace("\n", "\n    "))
    for e in s.harness_errors:
        print("  harness error: " + e)
    _log_file.close()
    if ok and not a.keep:
        shutil.rmtree(a.workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
