/* yaml.c - one YAML document to a cJSON tree (YAML 1.2 core schema).
 *
 * Built on libyaml's event parser with an explicit stack, so deep input
 * cannot overflow the C stack while parsing.  Every node is attached to
 * its parent as soon as it is created, so on error one cJSON_Delete of the
 * root frees everything. */
#include "kclient/yaml.h"

#include <cJSON.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util.h"

typedef struct anchor {
    char *name;
    cJSON *node;   /* in the tree, or owned (a mapping key carrying an anchor) */
    cJSON *owned;  /* non-NULL when node is not in the tree */
    int complete;  /* an alias to an unfinished node would be recursive */
} anchor;

typedef struct frame {
    cJSON *node;   /* array or object */
    char *key;     /* object: key read, value not yet */
    yaml_mark_t key_mark;
    size_t anchor; /* index + 1 into anchors, 0 = none */
} frame;

typedef struct builder {
    const char *buf; /* the input, to place reader errors */
    const char *origin;
    kc_error *err;
    cJSON *root;
    frame *stack;    /* KC_YAML_MAX_DEPTH entries */
    size_t depth;
    anchor *anchors;
    size_t nanchors, cap_anchors;
    size_t alias_nodes;
    int documents;
    kc_code code;    /* of the first failure */
} builder;

/* Report a problem at (line, column), both 0-based as libyaml counts. */
static int fail_at(builder *b, kc_code code, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(builder *b, kc_code code, size_t line, size_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *problem = kc_vasprintf(fmt, ap);
    va_end(ap);
    b->code = code;
    kc_error_set(b->err, code, "%s%sline %zu column %zu: %s", b->origin ? b->origin : "",
                 b->origin ? ": " : "", line + 1, col + 1, problem ? problem : "out of memory");
    free(problem);
    return -1;
}

#define FAIL(b, mark, ...) fail_at((b), KC_EDECODE, (mark)->line, (mark)->column, __VA_ARGS__)

static int nomem(builder *b)
{
    b->code = KC_ENOMEM;
    kc_error_set(b->err, KC_ENOMEM, "%s%sout of memory", b->origin ? b->origin : "",
                 b->origin ? ": " : "");
    return -1;
}

/* ---- scalar resolution (YAML 1.2 core schema) ---- */

static int is_one_of(const char *v, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(*words, v, n) == 0)
            return 1;
    return 0;
}

static int is_null(const char *v, size_t n)
{
    static const char *const words[] = {"~", "null", "Null", "NULL", NULL};
    return n == 0 || is_one_of(v, n, words);
}

/* 1 = true, 0 = false, -1 = not a bool */
static int bool_value(const char *v, size_t n)
{
    static const char *const t[] = {"true", "True", "TRUE", NULL};
    static const char *const f[] = {"false", "False", "FALSE", NULL};
    return is_one_of(v, n, t) ? 1 : is_one_of(v, n, f) ? 0 : -1;
}

static size_t span(const char *v, size_t n, const char *set)
{
    size_t i = 0;
    while (i < n && v[i] && strchr(set, v[i]))
        i++;
    return i;
}

#define DIGITS "0123456789"

/* Integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+.  Returns 0 when v is
 * an integer that fits a double without trouble. */
static int int_value(const char *v, size_t n, double *out)
{
    int base = 10;
    size_t start = 0;
    const char *digits = DIGITS;
    if (n > 2 && v[0] == '0' && (v[1] == 'o' || v[1] == 'x')) {
        base = v[1] == 'o' ? 8 : 16;
        digits = base == 8 ? "01234567" : DIGITS "abcdefABCDEF";
        start = 2;
    } else if (n > 1 && (v[0] == '-' || v[0] == '+')) {
        start = 1;
    }
    if (start >= n || span(v + start, n - start, digits) != n - start)
        return -1;
    if (base == 10) {
        *out = strtod(v, NULL); /* digits only: no locale involved */
        return isfinite(*out) ? 0 : -1;
    }
    errno = 0;
    unsigned long long u = strtoull(v + start, NULL, base);
    if (errno == ERANGE)
        return -1;
    *out = (double)u;
    return 0;
}

/* Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float_syntax(const char *v, size_t n)
{
    size_t i = (n && (v[0] == '-' || v[0] == '+')) ? 1 : 0;
    size_t ip = span(v + i, n - i, DIGITS);
    i += ip;
    size_t fp = 0;
    if (i < n && v[i] == '.') {
        i++;
        fp = span(v + i, n - i, DIGITS);
        i += fp;
        if (ip == 0 && fp == 0)
            return 0;
    } else if (ip == 0) {
        return 0;
    }
    if (i < n && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        if (i < n && (v[i] == '-' || v[i] == '+'))
            i++;
        size_t ep = span(v + i, n - i, DIGITS);
        if (ep == 0)
            return 0;
        i += ep;
    }
    return i == n;
}

static int float_value(const char *v, size_t n, double *out)
{
    if (n > 64 || !is_float_syntax(v, n))
        return -1;
    /* strtod follows the locale's decimal point, as cJSON works around too. */
    char tmp[65];
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    const struct lconv *lc = localeconv();
    char *dot = strchr(tmp, '.');
    if (dot && lc && lc->decimal_point && lc->decimal_point[0])
        *dot = lc->decimal_point[0];
    double d = strtod(tmp, NULL);
    if (!isfinite(d))
        return -1; /* 1e999 has no JSON form: keep the text */
    *out = d;
    return 0;
}

static int tag_is(const yaml_char_t *tag, const char *want)
{
    return tag && strcmp((const char *)tag, want) == 0;
}

static cJSON *scalar_to_json(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || tag_is(tag, "!") ||
        tag_is(tag, YAML_STR_TAG))
        return cJSON_CreateString(v);
    if (is_null(v, n))
        return cJSON_CreateNull();
    int bv = bool_value(v, n);
    if (bv >= 0)
        return cJSON_CreateBool(bv);
    double d;
    if (int_value(v, n, &d) == 0 || float_value(v, n, &d) == 0)
        return cJSON_CreateNumber(d);
    return cJSON_CreateString(v);
}

/* ---- anchors ---- */

static int add_anchor(builder *b, const yaml_char_t *name, cJSON *node, cJSON *owned,
                      int complete, size_t *index_out)
{
    if (b->nanchors == b->cap_anchors) {
        size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 8;
        anchor *a = realloc(b->anchors, cap * sizeof(*a));
        if (!a)
            return -1;
        b->anchors = a;
        b->cap_anchors = cap;
    }
    char *copy = strdup((const char *)name);
    if (!copy)
        return -1;
    b->anchors[b->nanchors] = (anchor){copy, node, owned, complete};
    if (index_out)
        *index_out = b->nanchors + 1;
    b->nanchors++;
    // cppcheck-suppress memleak ; copy is owned by b->anchors[] (stored through a compound literal, which cppcheck 2.10 does not follow) and freed by free_anchors
    return 0;
}

/* The latest definition wins, as YAML allows an anchor to be redefined. */
static anchor *find_anchor(builder *b, const char *name)
{
    for (size_t i = b->nanchors; i > 0; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0)
            return &b->anchors[i - 1];
    return NULL;
}

static void free_anchors(builder *b)
{
    for (size_t i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
        cJSON_Delete(b->anchors[i].owned);
    }
    free(b->anchors);
}

/* Count nodes and depth of a subtree, stopping once over limit. */
static size_t count_nodes(const cJSON *node, size_t limit, size_t level, size_t *max_level)
{
    if (level > *max_level)
        *max_level = level;
    size_t n = 1;
    for (const cJSON *c = node->child; c && n <= limit; c = c->next)
        n += count_nodes(c, limit - n, level + 1, max_level);
    return n;
}

/* ---- tree building ---- */

static frame *top(builder *b) { return b->depth ? &b->stack[b->depth - 1] : NULL; }

/* Put node under the current collection (or make it the root); takes it. */
static int attach(builder *b, cJSON *node, const yaml_mark_t *mark)
{
    if (!node)
        return nomem(b);
    frame *f = top(b);
    if (!f) {
        b->root = node;
        return 0;
    }
    if (cJSON_IsArray(f->node)) {
        cJSON_AddItemToArray(f->node, node);
        return 0;
    }
    char *key = f->key;
    f->key = NULL;
    if (!key) {
        cJSON_Delete(node);
        return FAIL(b, mark, "mapping keys must be scalars");
    }
    int rc = 0;
    if (cJSON_GetObjectItemCaseSensitive(f->node, key)) {
        cJSON_Delete(node);
        rc = FAIL(b, &f->key_mark, "duplicate key \"%s\"", key);
    } else if (!cJSON_AddItemToObject(f->node, key, node)) {
        cJSON_Delete(node);
        rc = nomem(b);
    }
    free(key);
    return rc;
}

/* Whether the next node in the current mapping is a key. */
static int expecting_key(builder *b)
{
    frame *f = top(b);
    return f && cJSON_IsObject(f->node) && !f->key;
}

static int on_key_scalar(builder *b, const yaml_event_t *ev)
{
    frame *f = top(b);
    f->key_mark = ev->start_mark;
    f->key = kc_strndup0((const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (!f->key)
        return nomem(b);
    if (!ev->data.scalar.anchor)
        return 0;
    /* An anchored key may be aliased later as a string value. */
    cJSON *s = cJSON_CreateString(f->key);
    if (!s || add_anchor(b, ev->data.scalar.anchor, s, s, 1, NULL) != 0) {
        cJSON_Delete(s);
        return nomem(b);
    }
    return 0;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    if (expecting_key(b))
        return on_key_scalar(b, ev);
    cJSON *node = scalar_to_json(ev);
    if (attach(b, node, &ev->start_mark) != 0)
        return -1;
    if (ev->data.scalar.anchor && add_anchor(b, ev->data.scalar.anchor, node, NULL, 1, NULL))
        return nomem(b);
    return 0;
}

static int on_start(builder *b, const yaml_event_t *ev, cJSON *node, const yaml_char_t *anchor_name)
{
    if (b->depth >= KC_YAML_MAX_DEPTH) {
        cJSON_Delete(node);
        return FAIL(b, &ev->start_mark, "nesting deeper than %d levels", KC_YAML_MAX_DEPTH);
    }
    if (attach(b, node, &ev->start_mark) != 0)
        return -1;
    frame *f = &b->stack[b->depth++];
    *f = (frame){.node = node};
    if (anchor_name && add_anchor(b, anchor_name, node, NULL, 0, &f->anchor) != 0)
        return nomem(b);
    return 0;
}

static int on_end(builder *b)
{
    frame *f = top(b);
    if (!f)
        return 0;
    free(f->key);
    if (f->anchor)
        b->anchors[f->anchor - 1].complete = 1;
    b->depth--;
    return 0;
}

static int on_alias_key(builder *b, const yaml_event_t *ev, const anchor *a)
{
    if (!cJSON_IsString(a->node))
        return FAIL(b, &ev->start_mark, "alias \"%s\" used as a mapping key is not a string",
                    a->name);
    frame *f = top(b);
    f->key_mark = ev->start_mark;
    f->key = strdup(a->node->valuestring);
    return f->key ? 0 : nomem(b);
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    anchor *a = find_anchor(b, name);
    if (!a)
        return FAIL(b, &ev->start_mark, "undefined alias \"%s\"", name);
    if (!a->complete)
        return FAIL(b, &ev->start_mark, "alias \"%s\" refers to a node that contains it", name);
    if (expecting_key(b))
        return on_alias_key(b, ev, a);
    size_t budget = KC_YAML_MAX_ALIAS_NODES - b->alias_nodes, levels = 0;
    size_t n = count_nodes(a->node, budget, 0, &levels);
    if (n > budget)
        return FAIL(b, &ev->start_mark, "aliases expand to more than %d nodes",
                    KC_YAML_MAX_ALIAS_NODES);
    if (b->depth + levels > KC_YAML_MAX_DEPTH)
        return FAIL(b, &ev->start_mark, "nesting deeper than %d levels", KC_YAML_MAX_DEPTH);
    b->alias_nodes += n;
    cJSON *copy = cJSON_Duplicate(a->node, 1);
    if (copy && copy->string && !(copy->type & cJSON_StringIsConst)) {
        cJSON_free(copy->string); /* the anchor's own key travels with it */
        copy->string = NULL;
    }
    return attach(b, copy, &ev->start_mark);
}

static int on_event(builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return FAIL(b, &ev->start_mark, "more than one document");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, cJSON_CreateArray(), ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, cJSON_CreateObject(), ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    default:
        return 0;
    }
}

/* Line and column (0-based) of a byte offset, for reader errors, which
 * libyaml reports as an offset only. */
static void offset_position(const char *buf, size_t offset, size_t *line, size_t *col)
{
    *line = 0;
    size_t line_start = 0;
    for (size_t i = 0; i < offset; i++)
        if (buf[i] == '\n') {
            (*line)++;
            line_start = i + 1;
        }
    *col = offset - line_start;
}

static int parser_error(builder *b, const yaml_parser_t *p, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return nomem(b);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        size_t line, col;
        offset_position(b->buf, p->problem_offset < len ? p->problem_offset : len, &line, &col);
        return fail_at(b, KC_EDECODE, line, col, "%s", problem);
    }
    const yaml_mark_t *m = &p->problem_mark;
    if (p->context)
        return fail_at(b, KC_EDECODE, m->line, m->column, "%s (%s at line %zu column %zu)",
                       problem, p->context, p->context_mark.line + 1,
                       p->context_mark.column + 1);
    return fail_at(b, KC_EDECODE, m->line, m->column, "%s", problem);
}

static int run_parser(builder *b, yaml_parser_t *p, size_t len)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev))
            return parser_error(b, p, len);
        int rc = on_event(b, &ev);
        int done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc != 0 || done)
            return rc;
    }
}

kc_code kc_yaml_parse(const char *buf, size_t len, const char *origin, cJSON **out, kc_error *err)
{
    *out = NULL;
    if (!buf) { /* no input: an empty stream, whatever len says */
        buf = "";
        len = 0;
    }
    builder b = {.buf = buf, .origin = origin, .err = err};
    b.stack = calloc(KC_YAML_MAX_DEPTH, sizeof(frame));
    yaml_parser_t p;
    if (!b.stack || !yaml_parser_initialize(&p)) {
        free(b.stack);
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    int rc = run_parser(&b, &p, len);
    yaml_parser_delete(&p);
    while (b.depth)
        on_end(&b);
    free(b.stack);
    free_anchors(&b);
    if (rc == 0 && !b.root && !(b.root = cJSON_CreateNull()))
        rc = nomem(&b);
    if (rc != 0) {
        cJSON_Delete(b.root);
        return b.code;
    }
    *out = b.root;
    return KC_OK;
}
