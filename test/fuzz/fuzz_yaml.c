/* fuzz_yaml.c - YAML to JSON (kclient/src/yaml.c, kc_yaml_parse).
 *
 * Input: byte 0 bit 0 gives an origin name, the rest is the document (an
 * exact-size heap copy, not NUL-terminated).  Properties: success gives a
 * tree and no error, failure an error and no tree; the message starts with
 * the origin; and a tree printed as JSON parses back (JSON is YAML) to the
 * same tree.  The round trip is checked for ASCII output only: cJSON prints
 * other characters raw, and libyaml (YAML 1.1) reads a raw U+0085 (NEL) in
 * a quoted string as a line break (folded to a space) and refuses raw C1
 * controls (U+0080..U+009F), both of which JSON allows; checked by hand:
 * ["a<U+0085>b"] comes back as ["a b"], ["a<U+0080>b"] is "control
 * characters are not allowed". */
#include <cJSON.h>

#include "fuzz.h"
#include "kclient/yaml.h"

static int ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *origin = (data[0] & 1) ? "fuzz.yaml" : NULL;
    data++;
    size--;
    char *buf = fuzz_copy(data, size, 0);
    cJSON *tree = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_yaml_parse(buf, size, origin, &tree, &err);
    free(buf);
    if (rc != KC_OK) {
        FUZZ_CHECK(tree == NULL);
        FUZZ_CHECK(rc == KC_EDECODE && err.code == KC_EDECODE && err.message != NULL);
        if (origin)
            FUZZ_CHECK(strncmp(err.message, "fuzz.yaml: line ", 16) == 0);
        else
            FUZZ_CHECK(strncmp(err.message, "line ", 5) == 0);
        kc_error_clear(&err);
        return 0;
    }
    FUZZ_CHECK(tree != NULL && err.code == KC_OK);
    char *json = cJSON_PrintUnformatted(tree);
    FUZZ_CHECK(json != NULL);
    if (ascii(json)) {
        cJSON *again = NULL;
        rc = kc_yaml_parse(json, strlen(json), "json", &again, &err);
        if (rc != KC_OK || !cJSON_Compare(tree, again, 1)) {
            char *back = again ? cJSON_PrintUnformatted(again) : NULL;
            fprintf(stderr, "JSON: %s\nparsed back: %s\n%s\n", json, back ? back : "(none)",
                    err.message ? err.message : "");
            FUZZ_CHECK(!"the tree printed as JSON does not parse back to itself");
        }
        cJSON_Delete(again);
    }
    free(json);
    cJSON_Delete(tree);
    kc_error_clear(&err);
    return 0;
}
