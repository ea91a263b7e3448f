"""Pure functions of the chaos soak's invariants (soak.py imports them;
test_soak_checks.py tests them without any cluster):

- the status flow: every member status value followed to the hub entry, in
  order, with its latency, classified by the faults active then;
- leadership terms from the Lease and the one-writer check of the hub audit;
- time windows, percentiles, /proc/net/tcp.

Times are UNIX seconds (floats) of this machine's clock: the soak, the
apiservers (audit timestamps) and the operators (log "ts", Lease renewTime)
all run on it.
"""

import collections
import math
import re

# The value of a status entry that has observed nothing (a new copy, or an
# entry made before its copy is seen): PodGroup status absent.
DEFAULT_VALUE = ("Pending", 0, 0, 0)

# Fault kinds that stop the status path of their member (or of every member,
# for the hub-wide ones) while their window lasts; link-latency only slows it.
NON_BLOCKING = ("link-latency",)

UA_RE = re.compile(r"^kclient-operator/(\S+) \(([^()]+)\)$")


def pct(xs, p):
    """Nearest-rank percentile of a list (p in 0..100); None when empty."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(math.ceil(p / 100.0 * len(s) - 1e-9)) - 1))
    return s[k]


def summary(xs):
    """(count, p50, p99, max) of a list of numbers."""
    return (len(xs), pct(xs, 50), pct(xs, 99), max(xs) if xs else None)


def merge_windows(ws):
    """Union of [start, end] intervals: sorted, disjoint."""
    out = []
    for s, e in sorted((min(a, b), max(a, b)) for a, b in ws):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def overlap_len(a, b, merged):
    """Length of [a, b] covered by merged (disjoint) windows."""
    tot = 0.0
    for s, e in merged:
        if e <= a:
            continue
        if s >= b:
            break
        tot += min(b, e) - max(a, s)
    return tot


def reachable_from(t, merged):
    """t, or the end of the merged window that holds t."""
    for s, e in merged:
        if s <= t <= e:
            return e
        if s > t:
            break
    return t


def status_value(st):
    """(phase, running, succeeded, failed) of a PodGroup status (or None)."""
    st = st or {}
    return (st.get("phase") or "Pending", int(st.get("running") or 0), int(st.get("succeeded") or 0),
            int(st.get("failed") or 0))


def entry_value(e):
    """The same four values of a hub status.clusters entry."""
    return (e.get("memberPhase") or "Pending", int(e.get("running") or 0), int(e.get("succeeded") or 0),
            int(e.get("failed") or 0))


# --- the member side of the status flow -------------------------------------

def member_sequence(writes, events, watch_slack=5.0):
    """The values one member copy held, in the member's order.

    writes: [(t_sent, t_ack, rv, uid, value)]: the soak's status writes, as the
            member answered them;
    events: [(t_seen, rv, uid, value or None)]: the soak's own watch of the
            member (creations: a new copy has no status; None: deleted).
    Returns [{"rv", "t_lo", "t", "uid", "value"}] sorted by resourceVersion,
    consecutive equal values merged (the first kept).  t is when the member
    had the value (answer of the write, else when the watch saw it); t_lo a
    time before which the value cannot have existed (the write was sent; a
    watch-only event: watch_slack before it was seen)."""
    by_rv = {}
    for t_sent, t_ack, rv, uid, value in writes:
        r = float(rv)
        if r in by_rv:
            continue   # a write that changed nothing answers the revision it found: the value is older
        by_rv[r] = {"rv": r, "t_lo": t_sent, "t": t_ack, "uid": uid, "value": value}
    for t_seen, rv, uid, value in events:
        r = float(rv)
        have = by_rv.get(r)
        if have is None:
            by_rv[r] = {"rv": r, "t_lo": t_seen - watch_slack, "t": t_seen, "uid": uid, "value": value}
        elif value is not None:
            have["t"] = min(have["t"], t_seen)
    out = []
    for r in sorted(by_rv):
        it = by_rv[r]
        if out and out[-1]["value"] == it["value"]:
            continue
        out.append(it)
    return out


# --- the hub side ---------------------------------------------------------------

# Entries that observe no member: a placement name without a MemberCluster,
# and a MemberCluster that does not serve its cluster (a duplicate).
NOT_A_MEMBER = ("ClusterNotFound", "DuplicateCluster")


class HubEntries:
    """Per (clusterName, namespace, name): the changes of a FederatedPodGroup's
    status entry as the soak's hub watch saw them: [(t, value or None, reason)]
    (None: no entry, or one that observes no member: NOT_A_MEMBER).  Only
    changes of the value or of presence are kept."""

    def __init__(self):
        self.seq = collections.defaultdict(list)
        self.present = {}     # (ns, name) -> clusterNames with an entry
        self.events = 0

    def observe(self, t, key, status, present=True):
        """The FederatedPodGroup key = (ns, name) seen at time t with status
        (present=False: deleted)."""
        self.events += 1
        now = {}
        if present:
            for e in (status or {}).get("clusters") or []:
                if e.get("clusterName") and e.get("reason") not in NOT_A_MEMBER:
                    now[e["clusterName"]] = e
        for c in set(now) | self.present.get(key, set()):
            s = self.seq[(c,) + tuple(key)]
            e = now.get(c)
            if e is None:
                if s and s[-1][1] is not None:
                    s.append((t, None, None))
                continue
            v = entry_value(e)
            if not s or s[-1][1] != v:
                s.append((t, v, e.get("reason")))
        self.present[key] = set(now)


def held_at(obs, t):
    """The value an entry held at time t (obs sorted by time), or None."""
    v = None
    for to, val, _ in obs:
        if to > t:
            break
        v = val
    return v


def first_held(obs, value, t):
    """The first time >= t at which the entry held value, or None."""
    if held_at(obs, t) == value:
        return t
    for to, val, _ in obs:
        if to > t and val == value:
            return to
    return None


def check_order(mseq, obs, eps=0.05):
    """The hub entry's values must be the member's, in the member's order:
    each one matched to the earliest member value at or after the previous
    match that already existed then (t_lo <= hub time + eps).  An entry that
    (re)appears with the default value and a reason other than Observed has
    observed nothing yet and is not matched.  Returns [(t, value, why)]."""
    bad = []
    p = 0
    absent = True
    for t, v, reason in obs:
        if v is None:
            absent = True
            continue
        if absent and v == DEFAULT_VALUE and reason != "Observed":
            absent = False
            continue
        absent = False
        k = next((i for i in range(p, len(mseq)) if mseq[i]["value"] == v and mseq[i]["t_lo"] <= t + eps), None)
        if k is not None:
            p = k
            continue
        older = [i for i in range(0, p) if mseq[i]["value"] == v]
        later = [i for i in range(p, len(mseq)) if mseq[i]["value"] == v]
        cur = mseq[p] if p < len(mseq) else None
        if older:
            why = ("older value: the member had it at %s (rv %s), and had already moved on to %s at %s (rv %s), "
                   "which the hub had shown" % (
                       "%.3f" % mseq[older[-1]]["t"], mseq[older[-1]]["rv"], cur["value"] if cur else None,
                       "%.3f" % cur["t"] if cur else "-", cur["rv"] if cur else "-"))
        elif later:
            why = "shown before the member had it (member at %.3f)" % mseq[later[0]]["t"]
        else:
            why = "a value this member copy never had"
        bad.append((t, v, why))
    return bad


def fault_kinds_between(a, b, windows, tail):
    """Kinds of the fault windows [(s, e, kind, blocking)] that overlap
    [a, b] when each is extended by tail after its end."""
    return sorted(set(k for s, e, k, _ in windows if s <= b and e + tail >= a))


def analyse_copy(mseq, obs_by_name, windows, cuts, t_end, req_s, tail, pre=None, gone=None):
    """One member copy: mseq (member_sequence), obs_by_name {clusterName:
    hub observations} for the MemberCluster names that served this member,
    windows [(s, e, kind, blocking)] of the faults that concern it, cuts
    (sorted times after which its values need not reach the hub: placement
    changes and deletion of its FederatedPodGroup, sent), gone (when its
    deletion was first sent: no value after it is required), t_end (end of
    the observation).  A value is required when it stood at least req_s outside
    the blocking windows extended by tail.  Returns (samples, missing,
    regressions): samples [(latency, kinds, t, value)] for required values
    that reached the hub; latency from the value's time or, when the member
    was unreachable then (or became so less than pre, default req_s, after
    it), from the end of that window, less the time of the blocking windows
    between then and its arrival."""
    # a value written less than pre before the path was cut may not have been
    # delivered before it: its latency counts from the end of that window too
    pre = req_s if pre is None else pre
    blocking = merge_windows([(s - pre, e) for s, e, k, b in windows if b])
    blocking_tail = merge_windows([(s, e + tail) for s, e, k, b in windows if b])
    blocking_raw = merge_windows([(s, e) for s, e, k, b in windows if b])
    regressions = []
    for name, obs in sorted(obs_by_name.items()):
        for t, v, why in check_order(mseq, obs):
            regressions.append((name, t, v, why))
    samples, missing = [], []
    for i, it in enumerate(mseq):
        if it["value"] is None:
            continue
        t0 = it["t"]
        if gone is not None and t0 >= gone:
            continue   # its hub object is going: the entry goes with it
        t1 = mseq[i + 1]["t"] if i + 1 < len(mseq) else t_end
        t1 = min([t1] + [c for c in cuts if c >= t0])
        if t1 <= t0:
            continue
        stood = (t1 - t0) - overlap_len(t0, t1, blocking_tail)
        if stood < req_s:
            continue
        start = reachable_from(t0, blocking)
        hs = [h for h in (first_held(obs, it["value"], t0) for obs in obs_by_name.values()) if h is not None]
        if not hs:
            missing.append((t0, t1, it["value"], fault_kinds_between(t0, t1, windows, tail) or ["none"]))
            continue
        h = min(hs)
        # a window that began after the member was reachable again (a leader
        # killed before it delivered) holds the value up too: its time is not
        # the operator's latency
        lat = max(0.0, (h - start) - overlap_len(start, h, blocking_raw))
        samples.append((lat, fault_kinds_between(t0, max(h, t0), windows, tail) or ["none"], t0, it["value"]))
    return samples, missing, regressions


# --- leadership ---------------------------------------------------------------

def lease_terms(writes, samples, renew_deadline, request_timeout, slack):
    """Leadership terms from the Lease.

    writes: [(t_recv, t_done, identity, holder, acquire, acquire_t)]
            successful Lease writes from the hub audit (identity from the user
            agent; holder the holderIdentity written, "" for a release;
            acquire the acquireTime string, acquire_t its time);
    samples: [(t, holder, acquire, acquire_t, renew_t)] Lease reads.
    A term is one (holder, acquireTime): from its acquisition to its last
    renewal; a leader steps down renew_deadline after its last successful
    renewal (answered at the latest request_timeout after its renewTime, or
    when the hub finished the write), at once when it releases.  Returns
    [{"id", "start", "last", "end", "released", "writes"}] sorted by start,
    end = the step-down bound + slack."""
    terms = {}

    def term(holder, acq, acq_t, t):
        k = (holder, acq)
        if k not in terms:
            terms[k] = {"id": holder, "acquire": acq, "start": min(t, acq_t or t), "last": t, "released": None,
                        "writes": 0, "audit_last": 0.0}
        return terms[k]
    for t_recv, t_done, ident, holder, acq, acq_t in sorted(writes):
        if holder:
            tm = term(holder, acq, acq_t, t_recv)
            tm["start"] = min(tm["start"], t_recv)
            tm["last"] = max(tm["last"], t_done)
            tm["audit_last"] = max(tm["audit_last"], t_done)
            tm["writes"] += 1
        else:
            for tm in terms.values():   # a release by ident ends its latest term
                if tm["id"] == ident and tm["start"] <= t_recv and tm["released"] is None:
                    tm["released"] = t_done
    for t, holder, acq, acq_t, renew_t in sorted(samples):
        if not holder:
            continue
        tm = term(holder, acq, acq_t, t)
        if not renew_t:
            tm["last"] = max(tm["last"], t)
        elif not tm["writes"] or renew_t > tm["audit_last"]:
            # a renewal the audit log lacks: its answer came request_timeout
            # after renewTime at the latest
            tm["last"] = max(tm["last"], renew_t + request_timeout)
    out = []
    for tm in terms.values():
        end = tm["last"] + renew_deadline
        if tm["released"] is not None:
            end = min(end, tm["released"])
        out.append(dict(tm, end=end + slack))
    out.sort(key=lambda x: x["start"])
    return out


def leader_gaps(terms, min_gap=1.0):
    """[(from, to)]: times with no leader, between the last renewal of one
    term (or its release) and the start of the next."""
    out = []
    for a, b in zip(terms, terms[1:]):
        stop = a["released"] if a["released"] is not None else a["last"]
        if b["start"] - stop >= min_gap:
            out.append((stop, b["start"]))
    return out


def check_writers(writes, terms, slack):
    """writes: [(t_recv, user_agent, what)] every operator write to the hub.
    Each must name its replica (kclient-operator/VERSION (IDENTITY)) and fall
    inside one of that identity's terms (start - slack .. end).  Returns
    (checked, violations [(t, identity or None, what, why)])."""
    by_id = collections.defaultdict(list)
    for tm in terms:
        by_id[tm["id"]].append(tm)
    bad = []
    for t, ua, what in writes:
        m = UA_RE.match(ua or "")
        if not m:
            bad.append((t, None, what, "user agent %r does not name a replica" % ua))
            continue
        ident = m.group(2)
        if any(tm["start"] - slack <= t <= tm["end"] for tm in by_id.get(ident, ())):
            continue
        near = ", ".join("%s [%.3f..%.3f]" % (tm["id"], tm["start"], tm["end"]) for tm in terms
                         if tm["start"] - 30 <= t <= tm["end"] + 30) or "none"
        bad.append((t, ident, what, "outside every term of %s (terms near then: %s)" % (ident, near)))
    return len(writes), bad


# --- /proc/net/tcp -----------------------------------------------------------

# states of a socket whose side sent the first FIN (an active close)
ACTIVE_CLOSE = {"04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT", "0B": "CLOSING"}


def parse_proc_tcp(text):
    """[(local_port, remote_port, state, inode)] of /proc/net/tcp or tcp6 text."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or ":" not in f[1]:
            continue
        try:
            out.append((int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16), f[3].upper(), f[9]))
        except ValueError:
            continue
    return out


class ServerCloses:
    """Connections a server (a listening port) closed first, counted from
    samples of /proc/net/tcp: its side of such a connection passes through
    FIN_WAIT/TIME_WAIT (60 s), so samples every few seconds see each once."""

    def __init__(self, ports):
        self.ports = set(ports)
        self.seen = {}                       # (port, remote port) -> last seen
        self.closes = collections.defaultdict(list)   # port -> [first seen]

    def sample(self, t, rows):
        for lp, rp, st, _ in rows:
            if lp not in self.ports or st not in ACTIVE_CLOSE:
                continue
            k = (lp, rp)
            last = self.seen.get(k)
            if last is None or t - last > 65:
                self.closes[lp].append(t)
            self.seen[k] = t


class ClientConns:
    """Connections some processes (the operator replicas) opened to each
    server port, counted from samples: each socket (inode) once."""

    def __init__(self, ports):
        self.ports = dict(ports)             # port -> name
        self.seen = collections.defaultdict(set)   # name -> {(pid, inode)}

    def sample(self, rows, pid_inodes):
        """rows: parse_proc_tcp; pid_inodes: {pid: set of socket inodes}."""
        owner = {}
        for pid, inodes in pid_inodes.items():
            for i in inodes:
                owner[i] = pid
        for lp, rp, st, inode in rows:
            name = self.ports.get(rp)
            if name and inode in owner and st == "01":
                self.seen[name].add((owner[inode], inode))

    def counts(self):
        return {n: len(v) for n, v in self.seen.items()}
