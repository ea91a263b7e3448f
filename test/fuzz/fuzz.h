/* fuzz.h - shared by the libFuzzer targets in test/fuzz/.
 *
 * Each target defines LLVMFuzzerTestOneInput.  Built with clang
 * -fsanitize=fuzzer,address,undefined by test/fuzz/run.sh; built with the
 * normal compiler and replay_main.c into replay_<target>, which CTest runs
 * over the checked-in corpus (label unit) so that every input that ever
 * crashed stays a regression test. */
#ifndef KC_FUZZ_H
#define KC_FUZZ_H

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

#endif
