/* Unit tests for the operator's pure parts: operator/desired.c (placement,
 * the member copy, overrides that apply whole or not at all, the subset
 * test) and operator/track.c (per-member write records), with util.c's
 * JSON helpers and integer clamping. */
#include <check.h>
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

static cJSON *J(const char *s)
{
    cJSON *o = cJSON_Parse(s);
    ck_assert_ptr_nonnull(o);
    return o;
}

static kco_member member(const char *name, const char *labels, int volcano)
{
    kco_member m = {0};
    m.name = (char *)name;
    m.labels = J(labels);
    m.volcano = volcano;
    return m;
}

static const char *FPG =
    "{\"metadata\":{\"namespace\":\"team1\",\"name\":\"gang\",\"uid\":\"u-1\",\"generation\":3},"
    "\"spec\":{\"placement\":{\"clusterNames\":[\"a\"],\"clusterSelector\":{\"matchLabels\":{\"region\":\"r2\"}}},"
    "\"deletionPolicy\":\"Orphan\","
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"x\"}},"
    "\"spec\":{\"minMember\":4,\"queue\":\"q\",\"scheduleTimeoutSeconds\":30}},"
    "\"overrides\":[%s]}}";

static cJSON *fpg_with(const char *overrides)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), FPG, overrides);
    return J(buf);
}

START_TEST(placement_by_name_selector_and_leaving)
{
    cJSON *fpg = fpg_with("");
    kco_member a = member("a", "{\"region\":\"r1\"}", 0), b = member("b", "{\"region\":\"r2\"}", 0),
               c = member("c", "{\"region\":\"r3\"}", 0);
    ck_assert(kco_placed_on(fpg, &a));
    ck_assert(kco_placed_on(fpg, &b));
    ck_assert(!kco_placed_on(fpg, &c));
    b.leaving = 1; /* a leaving member is placed nowhere */
    ck_assert(!kco_placed_on(fpg, &b));
    cJSON *sel = J("{\"matchExpressions\":[{\"key\":\"region\",\"operator\":\"NotIn\",\"values\":[\"r1\"]}]}");
    ck_assert(!kco_member_matches(&a, sel));
    ck_assert(kco_member_matches(&c, sel));
    ck_assert(!kco_member_matches(&c, NULL)); /* absent selects nothing */
    cJSON_Delete(sel);
    cJSON_Delete(a.labels);
    cJSON_Delete(b.labels);
    cJSON_Delete(c.labels);
    cJSON_Delete(fpg);
}
END_TEST

START_TEST(desired_copy_carries_labels_annotations_and_flavour_fields)
{
    cJSON *fpg = fpg_with("");
    kco_member a = member("a", "{}", 0), v = member("v", "{}", 1);
    char *why = (char *)"unset";
    cJSON *o = kco_desired_member(fpg, &a, &why);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_null(why);
    ck_assert_str_eq(kco_jstr(o, "apiVersion"), "scheduling.x-k8s.io/v1alpha1");
    ck_assert_str_eq(kco_meta_map(o, "labels", KCO_CLUSTER_LABEL), "a");
    ck_assert_str_eq(kco_meta_map(o, "labels", KCO_LABEL_FPG_NAME), "gang");
    ck_assert_str_eq(kco_meta_map(o, "labels", "app"), "x");
    ck_assert_str_eq(kco_meta_map(o, "annotations", KCO_ANN_HUB_UID), "u-1");
    ck_assert_str_eq(kco_meta_map(o, "annotations", KCO_ANN_HUB_GEN), "3");
    ck_assert_str_eq(kco_meta_map(o, "annotations", KCO_ANN_POLICY), "Orphan");
    ck_assert_ptr_null(kco_jget(o, "spec.queue")); /* Volcano only */
    ck_assert_int_eq((int)kco_jnum(o, "spec.scheduleTimeoutSeconds", 0), 30);
    cJSON *ov = kco_desired_member(fpg, &v, &why);
    ck_assert_str_eq(kco_jstr(ov, "spec.queue"), "q");
    ck_assert_ptr_null(kco_jget(ov, "spec.scheduleTimeoutSeconds"));
    cJSON_Delete(o);
    cJSON_Delete(ov);
    cJSON_Delete(a.labels);
    cJSON_Delete(v.labels);
    cJSON_Delete(fpg);
}
END_TEST

START_TEST(overrides_apply_in_order_with_pointer_escapes)
{
    cJSON *fpg = fpg_with("{\"clusterName\":\"a\",\"patches\":["
                          "{\"op\":\"replace\",\"path\":\"/spec/minMember\",\"value\":8},"
                          "{\"op\":\"add\",\"path\":\"/metadata/labels/example.com~1tier\",\"value\":\"gold\"},"
                          "{\"op\":\"add\",\"path\":\"/spec/minResources/cpu\",\"value\":\"2\"},"
                          "{\"op\":\"remove\",\"path\":\"/metadata/labels/app\"}]},"
                          "{\"clusterName\":\"b\",\"patches\":[{\"op\":\"replace\",\"path\":\"/spec/minMember\",\"value\":1}]}");
    kco_member a = member("a", "{}", 0);
    char *why = NULL;
    cJSON *o = kco_desired_member(fpg, &a, &why);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq((int)kco_jnum(o, "spec.minMember", 0), 8);
    ck_assert_str_eq(kco_meta_map(o, "labels", "example.com/tier"), "gold");
    ck_assert_str_eq(kco_jstr(kco_jget(o, "spec.minResources"), "cpu"), "2");
    ck_assert_ptr_null(kco_meta_map(o, "labels", "app"));
    cJSON_Delete(o);
    cJSON_Delete(a.labels);
    cJSON_Delete(fpg);
}
END_TEST

/* Each override that cannot apply: no copy at all, and a reason naming it. */
START_TEST(overrides_that_cannot_apply_are_reported)
{
    static const char *bad[][2] = {
        {"{\"op\":\"add\",\"path\":\"/spec/minMember/x\",\"value\":1}", "not an object"},
        {"{\"op\":\"remove\",\"path\":\"/spec/nothing/here\"}", "does not exist"},
        {"{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":{}}", "whole map"},
        {"{\"op\":\"add\",\"path\":\"/spec/\",\"value\":1}", "names no field"},
        {"{\"op\":\"add\",\"path\":\"/metadata/labels/federation.kclient.io~1cluster\",\"value\":\"z\"}", "operator's"},
        {"{\"op\":\"add\",\"path\":\"/spec/minMember\"}", "need a value"},
        {"{\"op\":\"add\",\"path\":\"/metadata//labels/federation.kclient.io~1cluster\",\"value\":\"z\"}", "only fields below"},
        {"{\"op\":\"add\",\"path\":\"/metadata/labels//x\",\"value\":\"z\"}", "empty segment"},
        {"{\"op\":\"remove\",\"path\":\"/metadata\"}", "only fields below"},
        {"{\"op\":\"replace\",\"path\":\"/metadata/name\",\"value\":\"other\"}", "only fields below"},
        {"{\"op\":\"replace\",\"path\":\"/apiVersion\",\"value\":\"v1\"}", "only fields below"},
    };
    kco_member a = member("a", "{}", 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char ov[512];
        snprintf(ov, sizeof(ov), "{\"clusterName\":\"a\",\"patches\":[{\"op\":\"replace\",\"path\":\"/spec/minMember\",\"value\":2},%s]}", bad[i][0]);
        cJSON *fpg = fpg_with(ov);
        char *why = NULL;
        cJSON *o = kco_desired_member(fpg, &a, &why);
        ck_assert_msg(o == NULL, "case %zu applied", i);
        ck_assert_ptr_nonnull(why);
        ck_assert_msg(strstr(why, bad[i][1]) && strstr(why, "override 2"), "case %zu: %s", i, why);
        free(why);
        cJSON_Delete(fpg);
    }
    cJSON_Delete(a.labels);
}
END_TEST

START_TEST(template_cannot_set_our_keys_and_selectors_take_dotted_keys)
{
    cJSON *fpg = J("{\"metadata\":{\"namespace\":\"t\",\"name\":\"g\",\"uid\":\"u\",\"generation\":1},"
                   "\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"federation.kclient.io/cluster\":\"evil\","
                   "\"federation.kclient.io/x\":\"y\",\"app\":\"a\"},\"annotations\":{\"federation.kclient.io/hub-uid\":\"z\"}},"
                   "\"spec\":{\"minMember\":1}}}}");
    kco_member a = member("a", "{\"topology.kubernetes.io/region\":\"r1\"}", 0);
    char *why = NULL;
    cJSON *o = kco_desired_member(fpg, &a, &why);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(kco_meta_map(o, "labels", KCO_CLUSTER_LABEL), "a");
    ck_assert_ptr_null(kco_meta_map(o, "labels", "federation.kclient.io/x"));
    ck_assert_str_eq(kco_meta_map(o, "labels", "app"), "a");
    ck_assert_str_eq(kco_meta_map(o, "annotations", KCO_ANN_HUB_UID), "u");
    int n = 0;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, kco_jget(o, "metadata.labels"))
        n += !strcmp(kv->string, KCO_CLUSTER_LABEL);
    ck_assert_int_eq(n, 1); /* one key, ours */
    cJSON *sel = J("{\"matchLabels\":{\"topology.kubernetes.io/region\":\"r1\"}}");
    ck_assert(kco_member_matches(&a, sel));
    cJSON *ex = J("{\"matchExpressions\":[{\"key\":\"topology.kubernetes.io/region\",\"operator\":\"In\",\"values\":[\"r1\"]}]}");
    ck_assert(kco_member_matches(&a, ex));
    cJSON_Delete(sel);
    cJSON_Delete(ex);
    cJSON_Delete(o);
    cJSON_Delete(a.labels);
    cJSON_Delete(fpg);
}
END_TEST

START_TEST(subset_means_every_owned_field_is_there)
{
    cJSON *want = J("{\"metadata\":{\"labels\":{\"a\":\"1\"}},\"spec\":{\"minMember\":2}}");
    cJSON *same = J("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"uid\":\"x\"},\"spec\":{\"minMember\":2,\"q\":1},\"status\":{}}");
    cJSON *drift = J("{\"metadata\":{\"labels\":{\"a\":\"1\"}},\"spec\":{\"minMember\":99}}");
    cJSON *missing = J("{\"metadata\":{},\"spec\":{\"minMember\":2}}");
    ck_assert(kco_subset(want, same));
    ck_assert(!kco_subset(want, drift));
    ck_assert(!kco_subset(want, missing));
    ck_assert(!kco_subset(want, NULL));
    cJSON_Delete(want);
    cJSON_Delete(same);
    cJSON_Delete(drift);
    cJSON_Delete(missing);
}
END_TEST

START_TEST(track_records_inflight_backoff_and_drop)
{
    kco_track *t = kco_track_new();
    ck_assert_ptr_null(kco_track_get(t, "ns/a", 0));
    kco_write_state *s = kco_track_get(t, "ns/a", 1);
    ck_assert_int_eq(s->acked_gen, -1);
    kco_track_set_inflight(t, s, 1);
    kco_track_set_inflight(t, s, 1); /* counted once */
    ck_assert_uint_eq(kco_track_inflight(t), 1);
    kco_track_drop(t, "ns/a"); /* kept while in flight */
    ck_assert_ptr_eq(kco_track_get(t, "ns/a", 0), s);
    kco_track_set_inflight(t, s, 0);
    s->failures = 5;
    s->retry_at_ns = 123;
    kco_state_set_problem(s, "ApplyFailed", "HTTP 422");
    kco_track_reset_backoff(t);
    ck_assert_uint_eq(s->failures, 0);
    ck_assert_uint_eq(s->retry_at_ns, 0);
    ck_assert_str_eq(s->reason, "ApplyFailed"); /* the problem stays until a write succeeds */
    char key[32];
    for (int i = 0; i < 5000; i++) { /* the table grows and keeps every key */
        snprintf(key, sizeof(key), "ns/k%d", i);
        ck_assert_ptr_nonnull(kco_track_get(t, key, 1));
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(key, sizeof(key), "ns/k%d", i);
        ck_assert_ptr_nonnull(kco_track_get(t, key, 0));
        kco_track_drop(t, key);
        ck_assert_ptr_null(kco_track_get(t, key, 0));
    }
    kco_track_drop(t, "ns/a");
    ck_assert_ptr_null(kco_track_get(t, "ns/a", 0));
    kco_track_free(t);
}
END_TEST

START_TEST(integer_fields_are_clamped)
{
    cJSON *o = J("{\"spec\":{\"a\":1e300,\"b\":-5,\"c\":\"7\",\"d\":12}}");
    ck_assert_int_eq(kco_jlong(o, "spec.a", 10, 1, 86400), 86400);
    ck_assert_int_eq(kco_jlong(o, "spec.b", 10, 1, 86400), 1);
    ck_assert_int_eq(kco_jlong(o, "spec.c", 10, 1, 86400), 10); /* not a number: the default */
    ck_assert_int_eq(kco_jlong(o, "spec.d", 10, 1, 86400), 12);
    ck_assert_int_eq(kco_jlong(o, "spec.none", 10, 1, 86400), 10);
    cJSON_Delete(o);
}
END_TEST

START_TEST(finalizer_patch_keeps_others_and_guards_by_version)
{
    cJSON *f = J("[\"a/x\",\"federation.kclient.io/cleanup\",\"b/y\"]");
    char *add = kco_finalizer_patch(f, KCO_FINALIZER, 1, "42");
    char *del = kco_finalizer_patch(f, KCO_FINALIZER, 0, NULL);
    ck_assert_str_eq(add, "{\"metadata\":{\"finalizers\":[\"a/x\",\"b/y\",\"federation.kclient.io/cleanup\"],\"resourceVersion\":\"42\"}}");
    ck_assert_str_eq(del, "{\"metadata\":{\"finalizers\":[\"a/x\",\"b/y\"]}}");
    free(add);
    free(del);
    char *none = kco_finalizer_patch(NULL, KCO_MEMBER_FINALIZER, 1, "7");
    ck_assert_str_eq(none, "{\"metadata\":{\"finalizers\":[\"federation.kclient.io/member-cleanup\"],\"resourceVersion\":\"7\"}}");
    free(none);
    cJSON_Delete(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_placement");
    TCase *t = tcase_create("desired");
    tcase_add_test(t, placement_by_name_selector_and_leaving);
    tcase_add_test(t, desired_copy_carries_labels_annotations_and_flavour_fields);
    tcase_add_test(t, overrides_apply_in_order_with_pointer_escapes);
    tcase_add_test(t, overrides_that_cannot_apply_are_reported);
    tcase_add_test(t, subset_means_every_owned_field_is_there);
    tcase_add_test(t, template_cannot_set_our_keys_and_selectors_take_dotted_keys);
    tcase_add_test(t, track_records_inflight_backoff_and_drop);
    tcase_add_test(t, integer_fields_are_clamped);
    tcase_add_test(t, finalizer_patch_keeps_others_and_guards_by_version);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
