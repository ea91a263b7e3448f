/* test_yaml.c - YAML to cJSON (YAML 1.2 core schema). */
#include <check.h>
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "kclient/yaml.h"
#include "util.h"

/* Parse yaml and return it printed as compact JSON (caller frees). */
static char *to_json(const char *yaml)
{
    cJSON *j = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_yaml_parse(yaml, strlen(yaml), "in", &j, &err);
    ck_assert_msg(rc == KC_OK, "parse \"%s\": %s", yaml, err.message ? err.message : "?");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    kc_error_clear(&err);
    return s;
}

static void expect_json(const char *yaml, const char *want)
{
    char *got = to_json(yaml);
    ck_assert_msg(strcmp(got, want) == 0, "\"%s\" gave %s, want %s", yaml, got, want);
    free(got);
}

/* Same tree as cJSON makes of the JSON text. */
static void expect_same_as_json(const char *yaml, const char *json)
{
    cJSON *a = NULL, *b = cJSON_Parse(json);
    kc_error err = KC_ERROR_INIT;
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(kc_yaml_parse(yaml, strlen(yaml), NULL, &a, &err) == KC_OK, "parse: %s",
                  err.message ? err.message : "?");
    char *pa = cJSON_PrintUnformatted(a), *pb = cJSON_PrintUnformatted(b);
    ck_assert_msg(cJSON_Compare(a, b, 1), "got %s want %s", pa, pb);
    free(pa);
    free(pb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void expect_error(const char *yaml, size_t len, const char *want)
{
    cJSON *j = (cJSON *)1;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_yaml_parse(yaml, len, "in", &j, &err);
    ck_assert_msg(rc == KC_EDECODE, "\"%s\": rc %d", yaml, rc);
    ck_assert_ptr_null(j);
    ck_assert_msg(strcmp(err.message, want) == 0, "\"%s\": got \"%s\" want \"%s\"", yaml,
                  err.message, want);
    kc_error_clear(&err);
}

START_TEST(test_scalar_types)
{
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        {"v: 12", "{\"v\":12}"},          {"v: -3", "{\"v\":-3}"},
        {"v: +7", "{\"v\":7}"},           {"v: 0777", "{\"v\":777}"},
        {"v: 0o17", "{\"v\":15}"},        {"v: 0x1F", "{\"v\":31}"},
        {"v: 1.5", "{\"v\":1.5}"},        {"v: -2e3", "{\"v\":-2000}"},
        {"v: .5", "{\"v\":0.5}"},         {"v: -.5", "{\"v\":-0.5}"},
        {"v: 1.", "{\"v\":1}"},           {"v: +.5e+1", "{\"v\":5}"},
        {"v: true", "{\"v\":true}"},      {"v: True", "{\"v\":true}"},
        {"v: TRUE", "{\"v\":true}"},      {"v: false", "{\"v\":false}"},
        {"v: FALSE", "{\"v\":false}"},    {"v: null", "{\"v\":null}"},
        {"v: Null", "{\"v\":null}"},      {"v: NULL", "{\"v\":null}"},
        {"v: ~", "{\"v\":null}"},         {"v:", "{\"v\":null}"},
        /* YAML 1.1 spellings are plain strings in 1.2 */
        {"v: yes", "{\"v\":\"yes\"}"},    {"v: off", "{\"v\":\"off\"}"},
        {"v: tRUE", "{\"v\":\"tRUE\"}"},  {"v: 1_000", "{\"v\":\"1_000\"}"},
        {"v: 0b101", "{\"v\":\"0b101\"}"}, {"v: 1:20", "{\"v\":\"1:20\"}"},
        {"v: 0x", "{\"v\":\"0x\"}"},      {"v: 0o8", "{\"v\":\"0o8\"}"},
        {"v: 2001-12-14", "{\"v\":\"2001-12-14\"}"},
        {"v: 1e", "{\"v\":\"1e\"}"},      {"v: .", "{\"v\":\".\"}"},
        {"v: -x", "{\"v\":\"-x\"}"},        {"v: 1.2.3", "{\"v\":\"1.2.3\"}"},
        /* no JSON form: kept as text */
        {"v: .inf", "{\"v\":\".inf\"}"},  {"v: .nan", "{\"v\":\".nan\"}"},
        {"v: 1e999", "{\"v\":\"1e999\"}"},
        /* quoted, block and tagged scalars are strings */
        {"v: '12'", "{\"v\":\"12\"}"},    {"v: \"true\"", "{\"v\":\"true\"}"},
        {"v: ''", "{\"v\":\"\"}"},        {"v: !!str 12", "{\"v\":\"12\"}"},
        {"v: ! null", "{\"v\":\"null\"}"}, {"v: |\n  12\n", "{\"v\":\"12\\n\"}"},
        {"v: >-\n  a\n  b\n", "{\"v\":\"a b\"}"},
        {"v: plain text here", "{\"v\":\"plain text here\"}"},
        /* keys are always strings */
        {"1: a\ntrue: b\nnull: c", "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_json(cases[i].yaml, cases[i].json);
}
END_TEST

START_TEST(test_nested)
{
    expect_same_as_json("apiVersion: v1\n"
                        "kind: Config\n"
                        "clusters:\n"
                        "- name: a\n"
                        "  cluster:\n"
                        "    server: https://x:6443\n"
                        "    extensions: []\n"
                        "- name: b\n"
                        "  cluster: {server: 'https://y', insecure-skip-tls-verify: true}\n"
                        "users:\n"
                        "  - {}\n"
                        "  - [1, [2, [3, {deep: {er: [null]}}]]]\n"
                        "empty_map: {}\n"
                        "text: |\n"
                        "  line one\n"
                        "  line two\n",
                        "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"clusters\":["
                        "{\"name\":\"a\",\"cluster\":{\"server\":\"https://x:6443\","
                        "\"extensions\":[]}},"
                        "{\"name\":\"b\",\"cluster\":{\"server\":\"https://y\","
                        "\"insecure-skip-tls-verify\":true}}],"
                        "\"users\":[{},[1,[2,[3,{\"deep\":{\"er\":[null]}}]]]],"
                        "\"empty_map\":{},\"text\":\"line one\\nline two\\n\"}");
    expect_json("- a\n- - b\n  - c\n-\n", "[\"a\",[\"b\",\"c\"],null]");
    expect_json("top", "\"top\"");
    expect_json("42", "42");
}
END_TEST

START_TEST(test_json_round_trip)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "null",
        "\"just a string\"",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
        "{\"num\": -12.5e-3, \"big\": 12345678, \"zero\": 0, \"neg0\": -0}",
        "{\"esc\": \"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u0041\\u00e9\\u4e2d\"}",
        "{\"utf8\": \"h\xc3\xa9llo \xf0\x9f\x98\x80\"}",
        "{\"nested\": [[[], {}], [{\"a\": [{\"b\": {}}]}]], \"s\": \"true\", \"n\": \"12\"}",
        "{\"spaces\": \"  lead and trail  \", \"colon\": \"a: b\", \"hash\": \"a #b\"}",
        "[\n  1,\n  2\n]\n",
        "{\"k8s\":{\"metadata\":{\"name\":\"x\",\"labels\":{\"app\":\"y\"}},"
        "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
        "\"image\":\"nginx:1.25\",\"ports\":[{\"containerPort\":80}]}]}}}}}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        expect_same_as_json(docs[i], docs[i]);

    /* Deep, but within both cJSON's and our nesting limits.  Compared as
     * text: cJSON_Compare is exponential in the depth of objects. */
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    for (int i = 0; i < 200; i++)
        kc_strbuf_appends(&sb, "{\"a\":[");
    kc_strbuf_appends(&sb, "1");
    for (int i = 0; i < 200; i++)
        kc_strbuf_appends(&sb, "]}");
    expect_json(sb.data, sb.data);
    kc_strbuf_free(&sb);
}
END_TEST

START_TEST(test_errors_name_line_and_column)
{
    static const struct {
        const char *yaml, *message;
    } cases[] = {
        {"a: 1\na: 2\n", "in: line 2 column 1: duplicate key \"a\""},
        {"a: [1, 2\n", "in: line 2 column 1: did not find expected ',' or ']' "
                       "(while parsing a flow sequence at line 1 column 4)"},
        {"a:\n\tb: 1\n", "in: line 2 column 1: found character that cannot start any token "
                         "(while scanning for the next token at line 2 column 1)"},
        {"a: *nope\n", "in: line 1 column 4: undefined alias \"nope\""},
        {"a: &x [1, *x]\n", "in: line 1 column 11: alias \"x\" refers to a node that contains it"},
        {"? [a]\n: b\n", "in: line 1 column 3: mapping keys must be scalars"},
        {"a: &n 1\n*n : 2\n", "in: line 2 column 1: alias \"n\" used as a mapping key is not a "
                              "string"},
        {"a: 1\n---\nb: 2\n", "in: line 2 column 1: more than one document"},
        {"a: \"x\n", "in: line 2 column 1: found unexpected end of stream "
                     "(while scanning a quoted scalar at line 1 column 4)"},
        {"a: b\n c: d\n", "in: line 2 column 3: mapping values are not allowed in this context"},
        {"a: 1\nb: \x01\n", "in: line 2 column 4: control characters are not allowed"},
        {"a: 1\nb: \xff\n", "in: line 2 column 4: invalid leading UTF-8 octet"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].yaml, strlen(cases[i].yaml), cases[i].message);

    /* libyaml's one JSON incompatibility: escaped UTF-16 surrogates. */
    const char *surrogates = "{\"e\": \"\\ud83d\\ude00\"}";
    expect_error(surrogates, strlen(surrogates),
                 "in: line 1 column 10: found invalid Unicode character escape code "
                 "(while parsing a quoted scalar at line 1 column 7)");

    /* Without an origin the message starts at "line". */
    cJSON *j = NULL;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_yaml_parse("[", 1, NULL, &j, &err), KC_EDECODE);
    ck_assert_str_eq(err.message, "line 2 column 1: did not find expected node content "
                                  "(while parsing a flow node at line 2 column 1)");
    kc_error_clear(&err);
}
END_TEST

START_TEST(test_errors_do_not_quote_values)
{
    expect_error("token: \"s3cr3t\n", strlen("token: \"s3cr3t\n"),
                 "in: line 2 column 1: found unexpected end of stream "
                 "(while scanning a quoted scalar at line 1 column 8)");
}
END_TEST

START_TEST(test_anchors_and_aliases)
{
    expect_json("base: &b {x: 1, y: [a, b]}\ncopy: *b\n",
                "{\"base\":{\"x\":1,\"y\":[\"a\",\"b\"]},\"copy\":{\"x\":1,\"y\":[\"a\",\"b\"]}}");
    expect_json("- &s hello\n- *s\n- &s bye\n- *s\n", "[\"hello\",\"hello\",\"bye\",\"bye\"]");
    expect_json("&k key: *k\n", "{\"key\":\"key\"}");
    expect_json("a: &n 'name'\n*n : 2\n", "{\"a\":\"name\",\"name\":2}");
    expect_json("m: &m {k: v}\nl: [*m, *m]\n",
                "{\"m\":{\"k\":\"v\"},\"l\":[{\"k\":\"v\"},{\"k\":\"v\"}]}");
    /* "<<" is an ordinary key in YAML 1.2 */
    expect_json("a: &a {x: 1}\nb: {<<: *a}\n", "{\"a\":{\"x\":1},\"b\":{\"<<\":{\"x\":1}}}");
}
END_TEST

START_TEST(test_alias_expansion_cap)
{
    /* Each level multiplies by ten: level d would be ~11,000 nodes. */
    const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
    expect_error(laughs, strlen(laughs),
                 "in: line 4 column 36: aliases expand to more than 10000 nodes");
    /* Up to level c is 110 + 1110 = 1220 nodes: fine. */
    cJSON *j = NULL;
    kc_error err = KC_ERROR_INIT;
    size_t upto_c = (size_t)(strstr(laughs, "d:") - laughs);
    ck_assert_int_eq(kc_yaml_parse(laughs, upto_c, "in", &j, &err), KC_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "c")), 10);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_depth_limit)
{
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    for (int i = 0; i < KC_YAML_MAX_DEPTH; i++)
        kc_strbuf_appends(&sb, "[");
    for (int i = 0; i < KC_YAML_MAX_DEPTH; i++)
        kc_strbuf_appends(&sb, "]");
    cJSON *j = NULL;
    ck_assert_int_eq(kc_yaml_parse(sb.data, sb.len, "in", &j, NULL), KC_OK);
    cJSON_Delete(j);
    kc_strbuf_free(&sb);
    for (int i = 0; i <= KC_YAML_MAX_DEPTH; i++)
        kc_strbuf_appends(&sb, "[");
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_yaml_parse(sb.data, sb.len, "in", &j, &err), KC_EDECODE);
    ck_assert_str_eq(err.message, "in: line 1 column 513: nesting deeper than 512 levels");
    ck_assert_ptr_null(j);
    kc_strbuf_free(&sb);
    kc_error_clear(&err);
}
END_TEST

START_TEST(test_empty_and_lengths)
{
    static const char *const empty[] = {"", "---\n", "# nothing\n", "---\n...\n", "\n\n"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        expect_json(empty[i], "null");
    /* The buffer need not be NUL-terminated: only len bytes count. */
    cJSON *j = NULL;
    ck_assert_int_eq(kc_yaml_parse("a: 1xyz", 4, NULL, &j, NULL), KC_OK);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "a")->valueint, 1);
    cJSON_Delete(j);
    ck_assert_int_eq(kc_yaml_parse(NULL, 0, NULL, &j, NULL), KC_OK);
    ck_assert(cJSON_IsNull(j));
    cJSON_Delete(j);
    /* No buffer: an empty stream whatever len says (len used to reach the
     * reader-error position code with a NULL buffer). */
    ck_assert_int_eq(kc_yaml_parse(NULL, 5, NULL, &j, NULL), KC_OK);
    ck_assert(cJSON_IsNull(j));
    cJSON_Delete(j);
}
END_TEST

static Suite *yaml_suite(void)
{
    Suite *s = suite_create("yaml");
    TCase *tc = tcase_create("yaml");
    tcase_add_test(tc, test_scalar_types);
    tcase_add_test(tc, test_nested);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_errors_name_line_and_column);
    tcase_add_test(tc, test_errors_do_not_quote_values);
    tcase_add_test(tc, test_anchors_and_aliases);
    tcase_add_test(tc, test_alias_expansion_cap);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_empty_and_lengths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(yaml_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
