#!/usr/bin/env python3
"""Helpers for run-patch.sh / run-watch.sh (standard library only).

  report.py h2load OUT TIME LABEL N C      h2load's output + GNU time -> one JSON line
  report.py timed TIME LABEL N C WALL      GNU time of a command loop -> one JSON line
  report.py patch RESULTS.jsonl            the patch tables (absolute numbers and ratios)
  report.py watch RESULTS.jsonl            the watch tables
Every ratio compares numbers measured in the same run.
"""
import json
import re
import statistics
import sys


def gnu_time(path):
    # written by /usr/bin/time -f '%e %U %S %M'
    e, u, s, m = open(path).read().split()[-4:]
    return float(e), float(u), float(s), int(m)


def cmd_h2load(out, tfile, label, n, c):
    text = open(out).read()
    m = re.search(r"finished in ([\d.]+)(ms|s|us),", text)
    wall = float(m.group(1)) / {"s": 1, "ms": 1e3, "us": 1e6}[m.group(2)] if m else None
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    reqs = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    e, u, s, rss = gnu_time(tfile)
    ok = int(codes.group(1)) if codes else 0
    done = int(reqs.group(3)) if reqs else 0
    print(json.dumps({"client": label, "n": int(n), "concurrency": int(c), "ok": ok,
                      "failed": done - ok if done else int(n), "http_2xx": ok,
                      "http_4xx": int(codes.group(3)) if codes else 0,
                      "wall_s": wall, "cpu_s": u + s, "user_s": u, "sys_s": s,
                      "maxrss_kib": rss, "process_wall_s": e}))


def cmd_timed(tfile, label, n, c, wall):
    e, u, s, rss = gnu_time(tfile)
    n = int(n)
    print(json.dumps({"client": label, "n": n, "concurrency": int(c), "wall_s": float(wall),
                      "per_item_s": float(wall) / n, "cpu_s": u + s, "maxrss_kib": rss}))


def load(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def verdict(v, goal, le=True):
    if v is None:
        return "n/a"
    return "ok" if (v <= goal if le else v >= goal) else "MISSED"


def table(headers, rows):
    w = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(n) for x, n in zip(r, w)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (n + 2) for n in w) + "|")
    for r in rows:
        print(line(r))


def by_client(rows, phase):
    out = {}
    for r in rows:
        if r.get("phase") == phase:
            out.setdefault(r["client"], []).append(r)
    return out


def cmd_patch(path):
    rows = load(path)
    meta = next((r for r in rows if r.get("phase") == "meta"), {})
    n, c = meta.get("n"), meta.get("concurrency")
    print(f"## Status merge patches on a local kube-apiserver v1.34.4: N={n}, concurrency={c}, "
          f"{meta.get('rounds')} rounds (median), {meta.get('date')}, kclient {meta.get('rev')}, "
          f"load average before: {meta.get('load')}\n")
    srv = by_client(rows, "server")
    order = ["h2load", "kclient", "curl-multi", "client-go"]
    agg = {}
    trows = []
    for k in order:
        rs = srv.get(k, [])
        if not rs:
            continue
        a = {x: med(rs, x) for x in ("wall_s", "cpu_s", "maxrss_kib", "anon_kib")}
        a["failed"] = sum(r.get("failed", 0) for r in rs)
        agg[k] = a
        walls = ", ".join(f"{r['wall_s']:.2f}" for r in rs)
        trows.append([k, fmt(a["wall_s"], ".2f"), walls, fmt(n / a["wall_s"] if a["wall_s"] else None, ".0f"),
                      fmt(a["cpu_s"], ".2f"), fmt(a["maxrss_kib"] / 1024, ".1f"),
                      fmt(a["anon_kib"] / 1024 if a["anon_kib"] else None, ".1f"), a["failed"]])
    extra = {}
    for k, key in (("kubectl", "kubectl"), ("python", "python")):
        rs = by_client(rows, key).get(key, [])
        if rs:
            r = rs[0]
            per = r["per_item_s"]
            extra[k] = per * n
            trows.append([f"{k} (loop of {r['n']}, x{n // r['n']})", fmt(per * n, ".1f") + " (extrap.)",
                          f"{per * 1000:.1f} ms/item", fmt(1 / per, ".0f"),
                          fmt(r["cpu_s"] * n / r["n"], ".1f") + " (extrap.)",
                          fmt(r["maxrss_kib"] / 1024, ".1f"), "-", r.get("failed", 0)])
    table(["client", f"wall s (N={n})", "each round", "items/s", "CPU s", "peak RSS MiB", "anon MiB", "failed"], trows)
    print()
    kc = agg.get("kclient", {})
    h2 = agg.get("h2load", {})
    cg = agg.get("client-go", {})
    cm = agg.get("curl-multi", {})
    g = []
    r1 = ratio(kc.get("wall_s"), h2.get("wall_s"))
    g.append(["kclient wall / h2load wall (server ceiling)", fmt(r1, ".2f"), "<= 1.1", verdict(r1, 1.1)])
    r2 = ratio(kc.get("wall_s"), cg.get("wall_s"))
    g.append(["kclient wall / client-go wall", fmt(r2, ".2f"), "<= 0.7", verdict(r2, 0.7)])
    r3 = ratio(kc.get("cpu_s"), cg.get("cpu_s"))
    g.append(["kclient CPU / client-go CPU", fmt(r3, ".2f"), "<= 0.3", verdict(r3, 0.3)])
    r4 = ratio(kc.get("maxrss_kib"), cg.get("maxrss_kib"))
    g.append(["kclient peak RSS / client-go peak RSS", fmt(r4, ".2f"), "<= 0.2", verdict(r4, 0.2)])
    r4b = ratio(kc.get("anon_kib"), cg.get("anon_kib"))
    g.append(["kclient anon RSS / client-go anon RSS (own memory)", fmt(r4b, ".2f"), "(info)", ""])
    r4c = ratio(cm.get("maxrss_kib"), cg.get("maxrss_kib"))
    g.append(["bare curl-multi peak RSS / client-go peak RSS (floor)", fmt(r4c, ".2f"), "(info)", ""])
    r3b = ratio(cm.get("cpu_s"), cg.get("cpu_s"))
    g.append(["bare curl-multi CPU / client-go CPU (floor)", fmt(r3b, ".2f"), "(info)", ""])
    r1b = ratio(h2.get("wall_s") and extra.get("kubectl"), h2.get("wall_s"))
    g.append(["kubectl loop (extrapolated) / h2load wall (best any client can do)", fmt(r1b, ".0f") + "x", "(info)", ""])
    r5 = ratio(extra.get("kubectl"), kc.get("wall_s"))
    g.append(["kubectl loop (extrapolated) / kclient wall", fmt(r5, ".0f") + "x", ">= 50x", verdict(r5, 50, le=False)])
    r6 = ratio(extra.get("python"), kc.get("wall_s"))
    g.append(["python loop (extrapolated) / kclient wall", fmt(r6, ".1f") + "x", "(info)", ""])
    r7 = ratio(kc.get("wall_s"), cm.get("wall_s"))
    g.append(["kclient wall / bare curl-multi wall", fmt(r7, ".2f"), "(info)", ""])
    r8 = ratio(kc.get("cpu_s"), cm.get("cpu_s"))
    g.append(["kclient CPU / bare curl-multi CPU", fmt(r8, ".2f"), "(info)", ""])
    table(["ratio (same run)", "value", "goal", ""], g)
    print()

    co = by_client(rows, "client-only")
    if co:
        cmeta = next((r for r in rows if r.get("phase") == "client-only-meta"), {})
        print(f"## Client only: nghttpd (TLS, HTTP/2, answers at once, pinned to CPU {cmeta.get('server_cpu')}), "
              f"client pinned to CPU {cmeta.get('client_cpu')}, {cmeta.get('n')} PATCHes, "
              f"{cmeta.get('concurrency')} in flight\n")
        agg2 = {}
        trows = []
        for k in ["h2load", "curl-multi", "kclient", "client-go"]:
            rs = co.get(k, [])
            if not rs:
                continue
            per_cpu = [r["n"] / r["cpu_s"] for r in rs if r.get("cpu_s")]
            per_wall = [r["n"] / r["wall_s"] for r in rs if r.get("wall_s")]
            a = {"cpu_rate": statistics.median(per_cpu), "wall_rate": statistics.median(per_wall),
                 "best_cpu_rate": max(per_cpu),
                 "rss": med(rs, "maxrss_kib"), "anon": med(rs, "anon_kib"), "ok": sum(r.get("ok", 0) for r in rs),
                 "total": sum(r["n"] for r in rs)}
            agg2[k] = a
            trows.append([k, fmt(a["cpu_rate"], ".0f"), fmt(a["best_cpu_rate"], ".0f"),
                          ", ".join(f"{x:.0f}" for x in per_cpu),
                          fmt(a["wall_rate"], ".0f"), fmt(a["rss"] / 1024, ".1f"),
                          fmt(a["anon"] / 1024 if a["anon"] else None, ".1f"), f"{a['ok']}/{a['total']}"])
        table(["client", "PATCH / client CPU-s (median)", "best round", "each round", "PATCH / s (wall)", "peak RSS MiB", "anon MiB", "2xx"], trows)
        print()
        kc, cm, h2, cg = (agg2.get(x, {}) for x in ("kclient", "curl-multi", "h2load", "client-go"))
        g = []
        q = ratio(kc.get("cpu_rate"), cm.get("cpu_rate"))
        g.append(["kclient / bare libcurl, PATCH per CPU-s (medians)", fmt(q, ".2f"), ">= 0.8", verdict(q, 0.8, le=False)])
        q = ratio(kc.get("best_cpu_rate"), cm.get("best_cpu_rate"))
        g.append(["kclient / bare libcurl, PATCH per CPU-s (best rounds)", fmt(q, ".2f"), ">= 0.8", verdict(q, 0.8, le=False)])
        cg_rows = {r["client"]: r for r in rows if r.get("phase") == "client-only-callgrind"}
        if "kclient" in cg_rows and "curl-multi" in cg_rows:
            ik, ic = cg_rows["kclient"]["instr_per_request"], cg_rows["curl-multi"]["instr_per_request"]
            q = ratio(ic, ik)
            g.append([f"bare libcurl / kclient instructions per PATCH (callgrind: {ic / 1000:.0f}k vs {ik / 1000:.0f}k)",
                      fmt(q, ".2f"), ">= 0.8", verdict(q, 0.8, le=False)])
        q = ratio(kc.get("wall_rate"), cm.get("wall_rate"))
        g.append(["kclient / bare libcurl, PATCH per s (wall)", fmt(q, ".2f"), "(info)", ""])
        q = ratio(kc.get("cpu_rate"), h2.get("cpu_rate"))
        g.append(["kclient / h2load, PATCH per CPU-s", fmt(q, ".2f"), "(info)", ""])
        q = ratio(kc.get("cpu_rate"), cg.get("cpu_rate"))
        g.append(["kclient / client-go, PATCH per CPU-s", fmt(q, ".2f"), "(info)", ""])
        table(["ratio (same run)", "value", "goal", ""], g)


def cmd_watch(path):
    rows = load(path)
    meta = next((r for r in rows if r.get("phase") == "meta"), {})
    print(f"## Watch: {meta.get('objects')} PodGroups of ~{meta.get('object_bytes')} B created then "
          f"status-patched ({meta.get('events')} events), {meta.get('date')}, kclient {meta.get('rev')}, "
          f"load average before: {meta.get('load')}\n")
    get = lambda ph, cl: next((r for r in rows if r.get("phase") == ph and r.get("client") == cl), None)
    rec = get("decode", "kclient-decoder")
    syn = get("decode-synthetic", "kclient-decoder")
    cgd = get("decode", "client-go-decoder")
    cgs = get("decode-synthetic", "client-go-decoder")
    inf = get("informer", "client-go-informer")
    kin = get("informer", "kclient-informer")
    trows = []
    for name, r in (("kclient kc_watch_decoder, recorded stream", rec),
                    ("client-go watch decoder (dynamic), recorded stream", cgd),
                    ("kclient kc_watch_decoder, generated 1 KiB events", syn),
                    ("client-go watch decoder (dynamic), generated 1 KiB events", cgs),
                    ("client-go dynamic informer, live (TLS + decode + cache)", inf),
                    ("kclient informer, live", kin)):
        if r:
            trows.append([name, fmt(r.get("events_per_cpu_s"), ".0f"),
                          fmt(r.get("avg_event_bytes") or (r["stream_bytes"] / r["events_per_pass"] if r.get("stream_bytes") else None), ".0f"),
                          fmt(r.get("cpu_s", r.get("phase_cpu_s")), ".2f")])
        elif name.startswith("kclient informer"):
            trows.append([name, "TODO: bench_informer_kclient not built yet", "", ""])
    table(["what", "events / CPU-s", "avg event B", "CPU s measured"], trows)
    print()
    g = []
    q = ratio(rec and rec["events_per_cpu_s"], inf and inf["events_per_cpu_s"])
    g.append(["kclient decoder / client-go informer, events per CPU-s (same stream)", fmt(q, ".1f") + "x"])
    q = ratio(rec and rec["events_per_cpu_s"], cgd and cgd["events_per_cpu_s"])
    g.append(["kclient decoder / client-go decoder, events per CPU-s (recorded stream)", fmt(q, ".1f") + "x"])
    q = ratio(syn and syn["events_per_cpu_s"], cgs and cgs["events_per_cpu_s"])
    g.append(["kclient decoder / client-go decoder, events per CPU-s (generated)", fmt(q, ".1f") + "x"])
    table(["ratio (same run)", "value"], g)
    print()
    mrows = []
    if inf:
        mrows.append(["client-go dynamic informer", inf["cached"], fmt(inf["rss_kib"] / 1024, ".1f"),
                      fmt(inf["anon_kib"] / 1024 if inf.get("anon_kib") else None, ".1f"),
                      fmt(inf["maxrss_kib"] / 1024, ".1f"), fmt(inf["go_heap_inuse_kib"] / 1024, ".1f")])
    if kin:
        mrows.append(["kclient informer", kin.get("cached"), fmt(kin.get("rss_kib", 0) / 1024, ".1f"),
                      fmt(kin["anon_kib"] / 1024 if kin.get("anon_kib") else None, ".1f"),
                      fmt(kin.get("maxrss_kib", 0) / 1024, ".1f"), "-"])
        q = ratio(kin.get("maxrss_kib"), inf and inf["maxrss_kib"])
        mrows.append(["kclient / client-go peak RSS (goal <= 0.2)", "", "", "", fmt(q, ".2f"), verdict(q, 0.2)])
    else:
        mrows.append(["kclient informer", "TODO", "TODO: bench_informer_kclient", "", "", ""])
    table(["memory with the objects cached", "cached", "RSS after GC MiB", "anon MiB", "peak RSS MiB",
           "Go heap in use MiB"], mrows)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"h2load": cmd_h2load, "timed": cmd_timed, "patch": cmd_patch, "watch": cmd_watch}[cmd](*args)
