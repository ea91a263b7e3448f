/* fuzz.h - shared by the libFuzzer targets in test/fuzz/.
 *
 * Each target defines LLVMFuzzerTestOneInput.  Built with clang
 * -fsanitize=fuzzer,address,undefined by test/fuzz/run.sh; built with the
 * normal compiler and replay_main.c into replay_<target>, which CTest runs
 * over the checked-in corpus (label unit) so that every input that ever
 * crashed stays a regression test. */
#ifndef KC_FUZZ_H
#define KC_FUZZ_H

#include <cJSON.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test does not hold: report and abort, which
 * libFuzzer records as a crash with the input that caused it. */
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* A property that a reported, not yet fixed bug breaks, in code that
 * test/fuzz/ does not own.  By default a broken one is reported once per
 * process and id on stderr ("fuzz: known bug <id> ...") and the input goes
 * on, so the target keeps looking for other bugs and CI stays green; with
 * KC_FUZZ_STRICT=1 in the environment it fails like FUZZ_CHECK (to
 * reproduce the report with its corpus/<target>/regress-* input, or to
 * check a fix).  Once the bug is fixed, make it a FUZZ_CHECK. */
#define FUZZ_KNOWN(cond, id, what)                                                             \
    do {                                                                                       \
        if (!(cond))                                                                           \
            fuzz_known(id, what, __FILE__, __LINE__);                                          \
    } while (0)

/* KC_FUZZ_STRICT is set (and not "0"). */
static inline int fuzz_strict(void)
{
    const char *strict = getenv("KC_FUZZ_STRICT");
    return strict && *strict && strcmp(strict, "0") != 0;
}

static inline void fuzz_known(const char *id, const char *what, const char *file, int line)
{
    static const char *reported[32];
    if (fuzz_strict()) {
        fprintf(stderr, "%s:%d: check failed: known bug %s: %s\n", file, line, id, what);
        abort();
    }
    for (size_t i = 0; i < sizeof(reported) / sizeof(reported[0]); i++) {
        if (reported[i] && strcmp(reported[i], id) == 0)
            return;
        if (!reported[i]) {
            reported[i] = id;
            fprintf(stderr, "fuzz: known bug %s (%s:%d): %s (KC_FUZZ_STRICT=1 fails on it)\n", id,
                    file, line, what);
            return;
        }
    }
}

/* Two JSON values are the same when cJSON prints them alike (cJSON_Compare
 * calls inf unequal to itself; printing makes it null, as a store would). */
static inline int fuzz_same_json(const cJSON *a, const cJSON *b)
{
    char *x = a ? cJSON_PrintUnformatted(a) : NULL, *y = b ? cJSON_PrintUnformatted(b) : NULL;
    int same = (!x && !y) || (x && y && strcmp(x, y) == 0);
    cJSON_free(x);
    cJSON_free(y);
    return same;
}

/* An exact-size heap copy of data (not NUL-terminated unless nul), so that
 * AddressSanitizer sees any read past the end. */
static inline char *fuzz_copy(const uint8_t *data, size_t size, int nul)
{
    char *p = malloc(size + (nul ? 1 : 0) + (size == 0 && !nul));
    if (!p)
        abort();
    if (size)
        memcpy(p, data, size);
    if (nul)
        p[size] = '\0';
    return p;
}

/* A growable byte buffer (always NUL-terminated once added to). */
typedef struct fuzz_buf {
    char *p;
    size_t n, cap;
} fuzz_buf;

static inline void fuzz_buf_add(fuzz_buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        char *q = realloc(b->p, b->cap);
        if (!q)
            abort();
        b->p = q;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static inline void fuzz_buf_addf(fuzz_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void fuzz_buf_addf(fuzz_buf *b, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    fuzz_buf_add(b, s, (size_t)n);
    free(s);
}

/* ---- multi-part inputs ---- */

/* One part of an input: a view into the fuzzer's bytes. */
typedef struct fuzz_part {
    const uint8_t *p;
    size_t n;
} fuzz_part;

/* Split data[0, size) at NUL bytes into at most max parts (the last part
 * keeps any further NULs).  Returns how many (at least 1). */
static inline size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < size && n + 1 < max; i++) {
        if (data[i] == 0) {
            parts[n++] = (fuzz_part){data + start, i - start};
            start = i + 1;
        }
    }
    parts[n++] = (fuzz_part){data + start, size - start};
    return n;
}

/* A NUL-terminated heap copy of a part (which holds no NUL unless it is
 * the last one: then strlen may be shorter than n). */
static inline char *fuzz_part_str(const fuzz_part *part)
{
    return fuzz_copy(part->p, part->n, 1);
}

/* ---- files, for entry points that read them ---- */

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

static char fuzz_tmp_path[256];

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void fuzz_tmpdir_remove(void)
{
    if (fuzz_tmp_path[0])
        nftw(fuzz_tmp_path, fuzz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A directory of this process (made on first use, removed at exit). */
static inline const char *fuzz_tmpdir(void)
{
    if (!fuzz_tmp_path[0]) {
        const char *base = getenv("TMPDIR");
        if (snprintf(fuzz_tmp_path, sizeof(fuzz_tmp_path), "%s/kc-fuzz-XXXXXX",
                     base && *base ? base : "/tmp") >= (int)sizeof(fuzz_tmp_path) ||
            !mkdtemp(fuzz_tmp_path)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_tmpdir_remove);
    }
    return fuzz_tmp_path;
}

/* Write n bytes to dir/name (mode 0600), replacing it.  Aborts on failure:
 * that is the harness failing, not the code under test. */
static inline void fuzz_write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        abort();
    unlink(path); /* a fresh inode: a new mtime and size for rotation checks */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *c = p;
    size_t done = 0;
    while (fd >= 0 && done < n) {
        ssize_t w = write(fd, c + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (fd < 0 || done != n || close(fd) != 0) {
        perror(path);
        abort();
    }
}

static inline void fuzz_remove_file(const char *dir, const char *name)
{
    char path[1024];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        abort();
    unlink(path);
}

#endif
