/* brk(2) directly, then heavy malloc/calloc/realloc/free churn with verified contents. */
#include "hull_test.h"
#include <sys/syscall.h>
#include <unistd.h>

#define SLOTS 2048
#define ITERS 100000

struct slot {
    unsigned char *p;
    size_t size;
    unsigned char tag;
};

static size_t pick_size(uint64_t *rng) {
    uint64_t r = xorshift64(rng);
    switch (r % 32) {
    case 31: return 128 * 1024 + (size_t)(xorshift64(rng) % (1024 * 1024)); /* mmap'd */
    case 28:
    case 29:
    case 30: return 4096 + (size_t)(xorshift64(rng) % 60000);
    default: return 1 + (size_t)(xorshift64(rng) % 512);
    }
}

/* Bytes past the first 4 KiB are filled and checked at a stride (still dozens of bytes
 * per page), so the churn stays fast. Which bytes are sampled depends on the offset
 * only, so the rule holds across realloc. */
#define DENSE 4096
#define STRIDE 61

/* The first sampled offset at or after `i`. */
static size_t next_sample(size_t i) {
    if (i < DENSE)
        return i;
    return (i + STRIDE - 1) / STRIDE * STRIDE;
}

static size_t step_from(size_t i) { return i < DENSE ? 1 : STRIDE; }

static void fill(unsigned char *p, size_t from, size_t to, unsigned char tag) {
    for (size_t i = next_sample(from); i < to; i = next_sample(i + step_from(i)))
        p[i] = (unsigned char)(tag + i * 31);
}

static int verify(const unsigned char *p, size_t n, unsigned char tag) {
    for (size_t i = 0; i < n; i = next_sample(i + step_from(i)))
        if (p[i] != (unsigned char)(tag + i * 31))
            return 0;
    return 1;
}

/* Raw brk tests run first, before libc's malloc owns the break, and restore it. */
static int brk_results[6];
static void brk_tests(void) {
    const long step = 1 << 20;
    char *cur = (char *)syscall(SYS_brk, 0);
    brk_results[0] = cur != NULL && cur != (char *)-1;
    /* The break need not be page aligned (libc may have used sbrk already); test from
     * the next page boundary so that whole pages are given back on shrink. */
    char *base = (char *)(((uintptr_t)cur + 4095) & ~(uintptr_t)4095);
    char *grown = (char *)syscall(SYS_brk, base + step);
    brk_results[1] = grown == base + step;
    int zero = 1;
    for (long i = 0; i < step; i += 4096)
        if (base[i] != 0 || base[i + 4095] != 0)
            zero = 0;
    memset(base, 0xa5, (size_t)step);
    brk_results[2] = zero && (unsigned char)base[step - 1] == 0xa5;
    char *shrunk = (char *)syscall(SYS_brk, base);
    brk_results[3] = shrunk == base;
    /* Pages given back and taken again must come back zeroed. */
    grown = (char *)syscall(SYS_brk, base + step);
    brk_results[4] = grown == base + step && base[0] == 0 && base[step / 2] == 0 && base[step - 1] == 0;
    syscall(SYS_brk, cur);
    /* An absurd request fails by returning the old break. */
    char *bad = (char *)syscall(SYS_brk, (char *)0x7ffffffff000UL + (1UL << 40));
    brk_results[5] = bad == cur;
}

int main(void) {
    brk_tests();
    CHECK(brk_results[0], "brk(0) returns the break");
    CHECK(brk_results[1], "brk grows by 1 MiB");
    CHECK(brk_results[2], "grown break is zeroed and writable");
    CHECK(brk_results[3], "brk shrinks back");
    CHECK(brk_results[4], "regrown break is zeroed again");
    CHECK(brk_results[5], "absurd brk returns the old break");

    static struct slot slots[SLOTS];
    uint64_t rng = 0x1234567887654321ULL;
    uint64_t h = 0xcbf29ce484222325ULL;
    unsigned long mallocs = 0, frees = 0, reallocs = 0, callocs = 0, bad = 0;
    for (long it = 0; it < ITERS; it++) {
        struct slot *s = &slots[xorshift64(&rng) % SLOTS];
        if (!s->p) {
            size_t n = pick_size(&rng);
            unsigned char tag = (unsigned char)xorshift64(&rng);
            if (xorshift64(&rng) % 8 == 0) {
                s->p = calloc(1, n);
                callocs++;
                if (s->p)
                    for (size_t i = 0; i < n; i++)
                        if (s->p[i])
                            bad++;
            } else {
                s->p = malloc(n);
                mallocs++;
            }
            if (!s->p) {
                printf("allocation of %zu failed\n", n);
                return 2;
            }
            if (((uintptr_t)s->p & 15) != 0)
                bad++;
            s->size = n;
            s->tag = tag;
            fill(s->p, 0, n, tag);
        } else {
            if (!verify(s->p, s->size, s->tag))
                bad++;
            h = fnv1a_update(h, s->p, s->size < 64 ? s->size : 64);
            if (xorshift64(&rng) % 3 == 0) {
                size_t n = pick_size(&rng);
                unsigned char *q = realloc(s->p, n);
                reallocs++;
                if (!q) {
                    printf("realloc to %zu failed\n", n);
                    return 2;
                }
                size_t keep = n < s->size ? n : s->size;
                if (!verify(q, keep, s->tag))
                    bad++;
                fill(q, keep, n, s->tag);
                s->p = q;
                s->size = n;
            } else {
                free(s->p);
                frees++;
                s->p = NULL;
            }
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p) {
            if (!verify(slots[i].p, slots[i].size, slots[i].tag))
                bad++;
            h = fnv1a_update(h, slots[i].p, slots[i].size < 64 ? slots[i].size : 64);
            free(slots[i].p);
        }
    }
    printf("mallocs=%lu callocs=%lu reallocs=%lu frees=%lu fnv=%016llx\n", mallocs, callocs,
           reallocs, frees, (unsigned long long)h);
    CHECK(bad == 0, "all allocations aligned, zeroed where calloc'd and intact");

    /* One big allocation that certainly goes through mmap. */
    size_t big = 64u << 20;
    unsigned char *p = malloc(big);
    CHECK(p != NULL, "malloc 64 MiB");
    if (p) {
        for (size_t i = 0; i < big; i += 4096)
            p[i] = (unsigned char)(i >> 12);
        int ok = 1;
        for (size_t i = 0; i < big; i += 4096)
            if (p[i] != (unsigned char)(i >> 12))
                ok = 0;
        CHECK(ok, "64 MiB block holds data");
        free(p);
    }
    return check_summary();
}
