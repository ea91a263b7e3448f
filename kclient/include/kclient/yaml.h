/* kclient/yaml.h - one YAML document to a cJSON tree.
 *
 * Kubernetes speaks JSON; YAML is how people write it (kubeconfig,
 * manifests).  kc_yaml_parse turns one YAML document into the JSON value
 * the API server would see, following the YAML 1.2 core schema:
 *
 *   mapping            -> object (keys must be scalars; duplicates are an error)
 *   sequence           -> array
 *   plain null, Null, NULL, ~, empty          -> null
 *   plain true/True/TRUE, false/False/FALSE   -> bool
 *   plain 12, -3, 0o17, 0x1F                  -> number (integer)
 *   plain 1.5, -2e3, .5                       -> number (float)
 *   anything else, and every quoted, literal (|) or folded (>) scalar,
 *   and every scalar tagged !!str or "!"      -> string
 *
 * .inf and .nan stay strings: JSON has no way to write them.  Merge keys
 * ("<<") are not special.  JSON text is valid YAML and comes back as the
 * same tree, with one libyaml limit: \u escapes of UTF-16 surrogates
 * ("\ud83d\ude00") are rejected; the same characters as raw UTF-8 are fine.
 *
 * Anchors and aliases are supported by copying the anchored node.  To stop
 * "billion laughs" inputs, the nodes created by alias copies are capped at
 * KC_YAML_MAX_ALIAS_NODES per document, and nesting at KC_YAML_MAX_DEPTH.
 *
 * Pure: no I/O, no global state; safe on any input.
 */
#ifndef KCLIENT_YAML_H
#define KCLIENT_YAML_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* At most this many nodes may be created by expanding aliases. */
#define KC_YAML_MAX_ALIAS_NODES 10000
/* Deepest nesting of mappings and sequences accepted. */
#define KC_YAML_MAX_DEPTH 512

/* Parse the single YAML document in buf[0..len) (it need not be
 * NUL-terminated).  An empty stream or empty document yields a JSON null.
 * A stream with more than one document is an error.
 *
 * On success returns KC_OK and *out is a new tree the caller frees with
 * cJSON_Delete.  On failure returns KC_EDECODE (KC_ENOMEM when allocation
 * failed), *out is NULL, and err->message reads
 *   "<origin>: line 3 column 5: <problem>"
 * (lines and columns count from 1; origin may be NULL, then the message
 * starts at "line").  Messages never quote scalar values, which may be
 * secrets; they may name a mapping key or an anchor. */
kc_code kc_yaml_parse(const char *buf, size_t len, const char *origin, struct cJSON **out,
                      kc_error *err);

#ifdef __cplusplus
}
#endif
#endif
