/* util.c - small helpers of the operator. */
#include <openssl/crypto.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

int kco_base64_decode(const char *in, char **out, size_t *len)
{
    size_t n = strlen(in);
    *out = NULL;
    if (n % 4 != 0)
        return -1;
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf)
        return -1;
    int got = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
    if (got < 0) {
        free(buf);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    while (n > 0 && in[n - 1] == '=') {
        n--;
        got--;
    }
    buf[got] = '\0';
    *out = (char *)buf;
    *len = (size_t)got;
    return 0;
}

void kco_secure_free(char *p, size_t len)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

/* A dotted path through nested objects ("metadata.resourceVersion"); keys
 * that contain dots (labels) need meta lookups of their own. */
const cJSON *kco_jget(const cJSON *o, const char *path)
{
    char buf[160];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    // cppcheck-suppress CastIntegerToAddressAtReturn ; cur is a const cJSON * (cppcheck misreads the two-declarator for loop above)
    return cur;
}

const char *kco_jstr(const cJSON *o, const char *path)
{
    const cJSON *v = kco_jget(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double kco_jnum(const cJSON *o, const char *path, double def)
{
    const cJSON *v = kco_jget(o, path);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

long kco_jlong(const cJSON *o, const char *path, long def, long min, long max)
{
    double d = kco_jnum(o, path, (double)def);
    if (isnan(d))
        return def;
    /* compare as doubles first: converting an out-of-range double is UB */
    return d <= (double)min ? min : d >= (double)max ? max : (long)d;
}

uint64_t kco_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

char *kco_finalizer_patch(const cJSON *finalizers, const char *name, int add, const char *rv)
{
    cJSON *list = cJSON_CreateArray();
    const cJSON *f;
    cJSON_ArrayForEach(f, finalizers)
        if (cJSON_IsString(f) && strcmp(f->valuestring, name))
            cJSON_AddItemToArray(list, cJSON_CreateString(f->valuestring));
    if (add)
        cJSON_AddItemToArray(list, cJSON_CreateString(name));
    cJSON *patch = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(patch, "metadata");
    cJSON_AddItemToObject(md, "finalizers", list);
    if (rv)
        cJSON_AddStringToObject(md, "resourceVersion", rv);
    char *body = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    return body;
}
