#!/usr/bin/env python3
"""Unit tests of soak_checks.py (the soak's invariants), no cluster needed:
python3 test/soak/test_soak_checks.py"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak_checks as sc  # noqa: E402

A, B, C, D = ("Running", 1, 0, 0), ("Running", 2, 0, 0), ("Failed", 0, 0, 1), sc.DEFAULT_VALUE


def mseq(*vals):
    """Member values at t = 10, 20, 30, ...; rv 1, 2, 3, ..."""
    return sc.member_sequence([(10.0 * (i + 1) - 0.01, 10.0 * (i + 1), i + 1, "u", v) for i, v in enumerate(vals)], [])


class Windows(unittest.TestCase):
    def test_merge_overlap_reachable(self):
        m = sc.merge_windows([(5, 7), (1, 3), (2, 4)])
        self.assertEqual(m, [(1, 4), (5, 7)])
        self.assertEqual(sc.overlap_len(0, 10, m), 5)
        self.assertEqual(sc.overlap_len(3, 6, m), 2)
        self.assertEqual(sc.reachable_from(2, m), 4)
        self.assertEqual(sc.reachable_from(4.5, m), 4.5)

    def test_pct(self):
        self.assertEqual(sc.pct(list(range(1, 101)), 99), 99)
        self.assertEqual(sc.pct(list(range(1, 101)), 50), 50)
        self.assertEqual(sc.pct([3], 99), 3)
        self.assertIsNone(sc.pct([], 50))


class MemberSequence(unittest.TestCase):
    def test_merge_sources_by_rv(self):
        writes = [(10.0, 10.1, "5", "u", A), (20.0, 20.1, "9", "u", B)]
        events = [(1.0, "2", "u", D), (10.3, "5", "u", A), (15.0, "7", "u", A), (25.0, "11", "u", None),
                  (26.0, "12", "v", D)]
        s = sc.member_sequence(writes, events)
        self.assertEqual([x["value"] for x in s], [D, A, B, None, D])
        self.assertEqual(s[1]["t"], 10.1)       # the write's answer, not the watch
        self.assertEqual(s[1]["t_lo"], 10.0)
        self.assertEqual(s[4]["uid"], "v")


    def test_noop_write_keeps_first_time(self):
        # the same status written again: no new revision, the answer names rv 5
        s = sc.member_sequence([(10.0, 10.1, "5", "u", A), (30.0, 30.1, "5", "u", A)], [])
        self.assertEqual((s[0]["t_lo"], s[0]["t"]), (10.0, 10.1))


class Hub(unittest.TestCase):
    def test_entries_changes_only(self):
        h = sc.HubEntries()
        st = lambda *es: {"clusters": [dict(clusterName=c, memberPhase=v[0], running=v[1], succeeded=v[2], failed=v[3],
                                            reason="Observed") for c, v in es]}
        h.observe(1, ("ns", "a"), st(("m1", A)))
        h.observe(2, ("ns", "a"), st(("m1", A), ("m2", B)))   # m1 unchanged
        h.observe(3, ("ns", "a"), st(("m2", C)))
        h.observe(4, ("ns", "a"), None, present=False)
        self.assertEqual(h.seq[("m1", "ns", "a")], [(1, A, "Observed"), (3, None, None)])
        self.assertEqual(h.seq[("m2", "ns", "a")], [(2, B, "Observed"), (3, C, "Observed"), (4, None, None)])


    def test_not_a_member_is_absent(self):
        h = sc.HubEntries()
        st = lambda v, r: {"clusters": [dict(clusterName="m1", memberPhase=v[0], running=v[1], succeeded=v[2],
                                             failed=v[3], reason=r)]}
        h.observe(1, ("ns", "a"), st(A, "Observed"))
        h.observe(2, ("ns", "a"), st(D, "ClusterNotFound"))
        h.observe(3, ("ns", "a"), st(A, "Observed"))
        self.assertEqual(h.seq[("m1", "ns", "a")], [(1, A, "Observed"), (2, None, None), (3, A, "Observed")])


class Order(unittest.TestCase):
    def test_subsequence_ok(self):
        m = mseq(D, A, B, C)
        self.assertEqual(sc.check_order(m, [(11, D, "Applying"), (21, A, "Observed"), (41, C, "Observed")]), [])

    def test_regression(self):
        m = mseq(A, B, C)
        bad = sc.check_order(m, [(11, A, "Observed"), (21, B, "Observed"), (35, A, "Observed")])
        self.assertEqual(len(bad), 1)
        self.assertIn("older value", bad[0][2])

    def test_never_had(self):
        bad = sc.check_order(mseq(A, B), [(11, C, "Observed")])
        self.assertIn("never had", bad[0][2])

    def test_before_member(self):
        bad = sc.check_order(mseq(A, B), [(11, B, "Observed")])   # B written at 20
        self.assertIn("before the member", bad[0][2])

    def test_default_before_observed_skipped(self):
        # an entry that appears before its copy is seen: default values, reason Applying
        self.assertEqual(sc.check_order(mseq(A), [(5, D, "Applying"), (11, A, "Observed")]), [])
        # but a fall back to the default once observed is a regression
        self.assertTrue(sc.check_order(mseq(D, A), [(11, D, "Observed"), (21, A, "Observed"), (25, D, "Applying")]))

    def test_repeated_values(self):
        m = mseq(A, B, A, C)
        self.assertEqual(sc.check_order(m, [(11, A, "Observed"), (31, A, "Observed"), (41, C, "Observed")]), [])


class Copy(unittest.TestCase):
    def test_latency_required_missing(self):
        m = mseq(A, B, C)        # A 10..20, B 20..30, C 30..end
        obs = {"m1": [(10.3, A, "Observed"), (31.0, C, "Observed")]}
        samples, missing, reg = sc.analyse_copy(m, obs, [], [], 50.0, 1.1, 5.0)
        self.assertEqual(reg, [])
        self.assertEqual([round(s[0], 2) for s in samples], [0.3, 1.0])
        self.assertEqual([x[2] for x in missing], [B])
        self.assertEqual(samples[0][1], ["none"])

    def test_fault_window_excuses_and_delays(self):
        m = mseq(A, B, C)
        # B written at 20 while the member is cut until 29.5: overwritten 0.5 s
        # after it came back: not required; C at 30 reaches at 33: 3 s
        w = [(15.0, 29.5, "link-cut", True)]
        obs = {"m1": [(10.3, A, "Observed"), (33.0, C, "Observed")]}
        samples, missing, reg = sc.analyse_copy(m, obs, w, [], 50.0, 1.1, 5.0)
        self.assertEqual(missing, [])
        self.assertEqual([round(s[0], 2) for s in samples], [0.3, 3.0])
        self.assertEqual(samples[1][1], ["link-cut"])     # within the tail

    def test_latency_from_reachable(self):
        m = mseq(A, B)
        w = [(18.0, 25.0, "member-hang", True)]
        obs = {"m1": [(10.2, A, "Observed"), (27.0, B, "Observed")]}
        samples, missing, _ = sc.analyse_copy(m, obs, w, [], 60.0, 1.1, 5.0)
        self.assertEqual(round(samples[1][0], 2), 2.0)    # from 25, not 20

    def test_written_just_before_a_cut(self):
        m = mseq(A, B)            # B at 20; the link cut at 20.5 for 5 s
        w = [(20.5, 25.5, "link-cut", True)]
        obs = {"m1": [(10.2, A, "Observed"), (27.0, B, "Observed")]}
        samples, _, _ = sc.analyse_copy(m, obs, w, [], 60.0, 1.1, 5.0)
        self.assertEqual(round(samples[1][0], 2), 1.5)    # from 25.5

    def test_window_after_reachable_not_counted(self):
        m = mseq(A, B)            # B at 20 while cut until 25; the leader
        # killed at 27 (no leader until 37); the new leader delivers at 38
        w = [(15.0, 25.0, "link-cut", True), (27.0, 37.0, "leader-kill", True)]
        obs = {"m1": [(10.2, A, "Observed"), (38.0, B, "Observed")]}
        samples, _, _ = sc.analyse_copy(m, obs, w, [], 60.0, 1.1, 5.0)
        self.assertEqual(round(samples[1][0], 2), 3.0)    # 25..27 and 37..38

    def test_value_after_deletion_not_required(self):
        m = mseq(A, B)            # its FederatedPodGroup deleted at 19.9; B at 20
        samples, missing, _ = sc.analyse_copy(m, {"m1": [(10.2, A, "Observed")]}, [], [19.9], 60.0, 1.1, 5.0,
                                              gone=19.9)
        self.assertEqual(missing, [])
        self.assertEqual(len(samples), 1)

    def test_cut_by_placement_change(self):
        m = mseq(A, B)
        samples, missing, _ = sc.analyse_copy(m, {"m1": [(10.2, A, "Observed")]}, [], [20.5], 60.0, 1.1, 5.0)
        self.assertEqual(missing, [])    # B: its FederatedPodGroup moved away 0.5 s after


class Terms(unittest.TestCase):
    def test_terms_and_writers(self):
        writes = [(100.0, 100.01, "op-1", "op-1", "acq1", 99.99), (101.0, 101.01, "op-1", "op-1", "acq1", 99.99),
                  (110.0, 110.01, "op-2", "op-2", "acq2", 109.99), (111.0, 111.01, "op-2", "op-2", "acq2", 109.99),
                  (112.0, 112.01, "op-2", "", "", 0.0)]
        terms = sc.lease_terms(writes, [], 6.0, 2.0, 1.0)
        self.assertEqual([t["id"] for t in terms], ["op-1", "op-2"])
        self.assertAlmostEqual(terms[0]["end"], 101.01 + 6 + 1)
        self.assertAlmostEqual(terms[1]["end"], 112.01 + 1)
        self.assertEqual(sc.leader_gaps(terms), [(101.01, 109.99)])
        ua = lambda i: "kclient-operator/0.1.0 (%s)" % i
        ops = [(100.5, ua("op-1"), "ok"), (107.5, ua("op-1"), "late but within deadline"),
               (108.5, ua("op-1"), "after deadline"), (105.0, ua("op-2"), "before its term"),
               (111.5, ua("op-2"), "ok"), (111.5, "curl/8", "no replica")]
        n, bad = sc.check_writers(ops, terms, 1.0)
        self.assertEqual(n, 6)
        self.assertEqual(sorted(w for _, _, w, _ in bad), ["after deadline", "before its term", "no replica"])

    def test_samples_fill_missing_audit(self):
        terms = sc.lease_terms([], [(50.0, "op-3", "a", 40.0, 49.5), (52.0, "op-3", "a", 40.0, 51.5)], 6.0, 2.0, 1.0)
        self.assertEqual(len(terms), 1)
        self.assertAlmostEqual(terms[0]["start"], 40.0)
        self.assertAlmostEqual(terms[0]["end"], 51.5 + 2 + 6 + 1)


class Tcp(unittest.TestCase):
    def test_parse_and_count(self):
        tail = " 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000\n"
        text = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                "   0: 0100007F:1F90 0100007F:C350 06" + tail % 0 +
                "   1: 0100007F:1F90 0100007F:C351 01" + tail % 111 +
                "   2: 0100007F:C351 0100007F:1F90 01" + tail % 222 +
                "   3: 0100007F:C352 0100007F:1F90 01" + tail % 333)
        rows = sc.parse_proc_tcp(text)
        self.assertEqual(rows[0], (8080, 50000, "06", "0"))
        cc = sc.ClientConns({8080: "hub"})
        cc.sample(rows, {42: {"222", "999"}})
        cc.sample(rows, {42: {"222", "333"}})
        self.assertEqual(cc.counts(), {"hub": 2})
        c = sc.ServerCloses([8080])
        c.sample(1.0, rows)
        c.sample(3.0, rows)        # the same TIME_WAIT seen again: once
        self.assertEqual(c.closes[8080], [1.0])


if __name__ == "__main__":
    unittest.main()
