/* mprotect, mremap, munmap and madvise semantics, checked without taking any fault. */
#include "hull_test.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PG 4096UL

static unsigned char *map(size_t pages) {
    void *p = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap of %zu pages failed: %s\n", pages, errno_name(errno));
        exit(2);
    }
    return p;
}

static void fill(unsigned char *p, size_t n, unsigned char seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static int same(const unsigned char *p, size_t n, unsigned char seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Is [p, p+len) free? Probe with MAP_FIXED_NOREPLACE and undo. */
static int is_free(void *p, size_t len) {
    void *q = mmap(p, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (q == MAP_FAILED)
        return 0;
    munmap(q, len);
    return q == p;
}

int main(void) {
    /* mprotect */
    unsigned char *p = map(4);
    fill(p, 4 * PG, 1);
    CHECK(mprotect(p + PG, PG, PROT_READ) == 0, "mprotect page 1 read-only");
    CHECK(same(p, 4 * PG, 1), "read-only page still readable");
    CHECK(mprotect(p + PG, PG, PROT_READ | PROT_WRITE) == 0, "mprotect page 1 read-write again");
    fill(p + PG, PG, 9);
    CHECK(same(p + PG, PG, 9), "page 1 writable again");
    CHECK(mprotect(p + 2 * PG, PG, PROT_NONE) == 0, "mprotect page 2 PROT_NONE");
    CHECK(mprotect(p + 2 * PG, PG, PROT_READ | PROT_WRITE) == 0, "page 2 back to read-write");
    CHECK(same(p + 2 * PG, PG, (unsigned char)(1 + 2 * PG * 7)), "PROT_NONE round trip keeps data");
    CHECK(mprotect(p, 4 * PG, PROT_READ) == 0 && mprotect(p, 4 * PG, PROT_READ | PROT_WRITE) == 0,
          "mprotect whole range twice");
    errno = 0;
    /* Raw syscall: musl's wrapper rounds the address down to a page boundary. */
    CHECK(syscall(SYS_mprotect, p + 1, PG, PROT_READ) == -1 && errno == EINVAL, "mprotect unaligned EINVAL");
    CHECK(munmap(p, 4 * PG) == 0, "munmap 4 pages");
    errno = 0;
    CHECK(mprotect(p, PG, PROT_READ) == -1 && errno == ENOMEM, "mprotect unmapped ENOMEM");

    /* mremap grow, shrink, and failure to grow in place */
    p = map(2);
    fill(p, 2 * PG, 3);
    unsigned char *q = mremap(p, 2 * PG, 64 * PG, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED, "mremap grow 2 -> 64 pages");
    if (q != MAP_FAILED) {
        CHECK(same(q, 2 * PG, 3), "grown mapping keeps data");
        CHECK(all_zero(q + 2 * PG, 62 * PG), "grown tail is zero");
        fill(q, 64 * PG, 4);
        unsigned char *r = mremap(q, 64 * PG, PG, 0);
        CHECK(r == q, "mremap shrink in place");
        CHECK(same(r, PG, 4), "shrunk mapping keeps data");
        CHECK(is_free(r + PG, 63 * PG), "shrunk tail is unmapped");
        munmap(r, PG);
    }
    p = map(3);
    errno = 0;
    q = mremap(p, 2 * PG, 3 * PG, 0);
    CHECK(q == MAP_FAILED && errno == ENOMEM, "mremap grow into a mapped page fails ENOMEM");
    fill(p, 3 * PG, 5);
    q = mremap(p, 3 * PG, 6 * PG, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED && same(q, 3 * PG, 5), "mremap MAYMOVE keeps data");
    if (q != MAP_FAILED)
        munmap(q, 6 * PG);

    /* munmap partial: head, middle and tail */
    p = map(8);
    fill(p, 8 * PG, 6);
    CHECK(munmap(p + 3 * PG, 2 * PG) == 0, "munmap middle two pages");
    CHECK(same(p, 3 * PG, 6), "pages before the hole intact");
    CHECK(same(p + 5 * PG, 3 * PG, (unsigned char)(6 + 5 * PG * 7)), "pages after the hole intact");
    CHECK(is_free(p + 3 * PG, 2 * PG), "hole is free");
    CHECK(!is_free(p + 2 * PG, PG), "page before the hole still mapped");
    errno = 0;
    void *clash = mmap(p + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(clash == MAP_FAILED && errno == EEXIST, "MAP_FIXED_NOREPLACE over mapping EEXIST");
    CHECK(munmap(p, PG) == 0 && is_free(p, PG), "munmap head page");
    CHECK(munmap(p + 7 * PG, PG) == 0 && is_free(p + 7 * PG, PG), "munmap tail page");
    CHECK(munmap(p + 3 * PG, 2 * PG) == 0, "munmap of a hole succeeds");
    errno = 0;
    CHECK(syscall(SYS_munmap, p + 1, PG) == -1 && errno == EINVAL, "munmap unaligned EINVAL");
    errno = 0;
    CHECK(munmap(p, 0) == -1 && errno == EINVAL, "munmap length 0 EINVAL");
    CHECK(same(p + PG, 2 * PG, (unsigned char)(6 + PG * 7)), "remaining pages intact");
    munmap(p, 8 * PG);

    /* MAP_FIXED replaces contents with fresh zero pages */
    p = map(4);
    fill(p, 4 * PG, 7);
    q = mmap(p + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(q == p + PG, "MAP_FIXED returns the address");
    CHECK(all_zero(p + PG, 2 * PG), "MAP_FIXED pages are zero");
    CHECK(same(p, PG, 7), "neighbour of MAP_FIXED intact");

    /* MADV_DONTNEED on private anonymous memory reads back zero */
    CHECK(madvise(p, 4 * PG, MADV_DONTNEED) == 0, "madvise DONTNEED");
    CHECK(all_zero(p, 4 * PG), "DONTNEED pages read zero");
    munmap(p, 4 * PG);

    /* A hint address is honoured when free */
    p = map(16);
    munmap(p, 16 * PG);
    q = mmap(p + 4 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(q == p + 4 * PG, "free hint address honoured");
    munmap(q, PG);
    return check_summary();
}
