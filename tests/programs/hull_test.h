/*
 * Shared helpers for hull's differential test programs.
 *
 * Every program prints deterministic output only: booleans, counts, checksums and
 * errno names, never addresses, times or ids that change from run to run. Self-checks
 * go through CHECK(), which prints "name: ok" or "name: FAIL", and a program ends with
 * `return check_summary();`, which exits 1 if any check failed. The differential test
 * then sees the failing line in the diff of stdout.
 */
#ifndef HULL_TEST_H
#define HULL_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hull_test_failures;

#define CHECK(cond, name)                                                              \
    do {                                                                               \
        int check_ok_ = (cond) ? 1 : 0;                                                \
        if (!check_ok_)                                                                \
            hull_test_failures++;                                                      \
        printf("%s: %s\n", (name), check_ok_ ? "ok" : "FAIL");                         \
    } while (0)

static inline int check_summary(void) {
    if (hull_test_failures) {
        printf("%d checks FAILED\n", hull_test_failures);
        fflush(stdout);
        return 1;
    }
    printf("all checks passed\n");
    fflush(stdout);
    return 0;
}

/* 64-bit FNV-1a over a byte buffer, chainable through `h`. */
static inline uint64_t fnv1a_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static inline uint64_t fnv1a(const void *data, size_t len) {
    return fnv1a_update(0xcbf29ce484222325ULL, data, len);
}

/* xorshift64*: a small deterministic PRNG. */
static inline uint64_t xorshift64(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The symbolic name of an errno value, identical under glibc and musl. */
static inline const char *errno_name(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ESPIPE: return "ESPIPE";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case EOVERFLOW: return "EOVERFLOW";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
    }
}

/* Prints "label = ret" for a successful call or "label = -1 ENAME" for a failed one. */
static inline void print_result(const char *label, long ret, int err) {
    if (ret < 0)
        printf("%s = -1 %s\n", label, errno_name(err));
    else
        printf("%s = %ld\n", label, ret);
}

static inline const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

#endif
