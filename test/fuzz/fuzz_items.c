/* fuzz_items.c - the --items JSON-lines reader of kubectl-patch_status
 * (kclient/tools/items.c).
 *
 * Input: byte 0 bit 0 chooses --type json (patch must be an array), the
 * rest is the items file, cut into lines as getline does (newline kept),
 * each line an exact-size heap copy without a terminating NUL.  Properties:
 * a valid item has a non-empty name and a patch (when present) of the
 * right JSON type; an invalid one has a problem and no patch. */
#include <cJSON.h>

#include "fuzz.h"
#include "items.h"

static void check_line(const char *line, size_t len, int want_array, kps_item *it)
{
    if (kps_items_blank(line, len))
        return;
    int rc = kps_items_decode(line, len, want_array, it);
    if (rc == 0) {
        FUZZ_CHECK(it->problem == NULL);
        FUZZ_CHECK(it->name != NULL && it->name[0] != '\0');
        if (it->patch) {
            cJSON *p = cJSON_Parse(it->patch);
            FUZZ_CHECK(want_array ? cJSON_IsArray(p) : cJSON_IsObject(p));
            cJSON_Delete(p);
        }
    } else {
        FUZZ_CHECK(rc == -1 && it->problem != NULL && it->patch == NULL);
        FUZZ_CHECK(it->namespace_ == NULL || it->name != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int want_array = data[0] & 1;
    data++;
    size--;
    kps_item it = KPS_ITEM_INIT;
    size_t off = 0;
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
        char *line = fuzz_copy(data + off, len, 0);
        check_line(line, len, want_array, &it);
        free(line);
        off += len;
    }
    kps_item_clear(&it);
    kps_item_clear(NULL);
    return 0;
}
