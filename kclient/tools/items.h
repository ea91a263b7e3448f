/* items.h - one line of `kubectl patch-status --items FILE.jsonl`.
 *
 * Each line is a JSON object {"namespace":"ns","name":"pg1","patch":{...}}
 * naming one object and, optionally, its own patch.  Decoding is pure (no
 * I/O, no global state): the CLI reads the lines with getline, the fuzzer
 * (test/fuzz/fuzz_items.c) feeds it arbitrary bytes.
 */
#ifndef KPS_ITEMS_H
#define KPS_ITEMS_H

#include <stddef.h>

/* One decoded line.  Every string is owned and freed by kps_item_clear. */
typedef struct kps_item {
    char *name;       /* "name"; set when valid, and when invalid if "name" was a string */
    char *namespace_; /* "namespace" or NULL; set together with name */
    char *patch;      /* "patch" as compact JSON, or NULL when absent (or the line is invalid) */
    char *problem;    /* NULL when the line is a valid item, else why not ("no \"name\"") */
} kps_item;

#define KPS_ITEM_INIT {NULL, NULL, NULL, NULL}

/* 1 when line[0, len) holds only spaces, tabs, CR and LF: such lines are skipped. */
int kps_items_blank(const char *line, size_t len);

/* Decode line[0, len) (a trailing newline is fine; it need not be
 * NUL-terminated) into *out, clearing what *out held first (so *out must be
 * KPS_ITEM_INIT, zeroed or a previous result).  want_array: "patch" must be
 * a JSON array (--type json), else an object.  Returns 0 for a valid item,
 * -1 when out->problem says what is wrong (out of memory is such a problem). */
int kps_items_decode(const char *line, size_t len, int want_array, kps_item *out);

/* Free what it holds and reset it to KPS_ITEM_INIT.  NULL is allowed. */
void kps_item_clear(kps_item *it);

#endif
