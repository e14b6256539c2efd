/* mmap 128 MiB anonymous, touch and verify every page, then map again. */
#include "hull_test.h"
#include <sys/mman.h>

#define SIZE (128UL << 20)
#define PAGE 4096UL

int main(void) {
    unsigned char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap 128 MiB");
    if (p == MAP_FAILED)
        return check_summary();
    CHECK(((uintptr_t)p & (PAGE - 1)) == 0, "mapping page aligned");
    int zero = 1;
    for (size_t off = 0; off < SIZE; off += PAGE) {
        uint64_t *w = (uint64_t *)(p + off);
        if (w[0] != 0 || w[PAGE / 8 - 1] != 0)
            zero = 0;
        uint64_t v = off / PAGE * 0x9E3779B97F4A7C15ULL;
        w[0] = v;
        w[PAGE / 16] = ~v;
        w[PAGE / 8 - 1] = v ^ 0x5555;
    }
    CHECK(zero, "fresh pages read as zero");
    int ok = 1;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t off = 0; off < SIZE; off += PAGE) {
        uint64_t *w = (uint64_t *)(p + off);
        uint64_t v = off / PAGE * 0x9E3779B97F4A7C15ULL;
        if (w[0] != v || w[PAGE / 16] != ~v || w[PAGE / 8 - 1] != (v ^ 0x5555) || w[1] != 0)
            ok = 0;
        h = fnv1a_update(h, w, 16);
    }
    CHECK(ok, "every page holds what was written");
    printf("pages=%lu fnv=%016llx\n", SIZE / PAGE, (unsigned long long)h);
    CHECK(munmap(p, SIZE) == 0, "munmap 128 MiB");

    /* Mapping again after unmapping gives zeroed memory again. */
    p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(p != MAP_FAILED, "mmap 128 MiB again");
    if (p != MAP_FAILED) {
        zero = 1;
        for (size_t off = 0; off < SIZE; off += 64 * PAGE)
            if (p[off] != 0 || p[off + PAGE - 1] != 0)
                zero = 0;
        CHECK(zero, "remapped pages read as zero");
        CHECK(munmap(p, SIZE) == 0, "munmap again");
    }

    /* MAP_POPULATE prefaults; the contents are still zero. */
    p = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    CHECK(p != MAP_FAILED, "mmap MAP_POPULATE 8 MiB");
    if (p != MAP_FAILED) {
        zero = 1;
        for (size_t off = 0; off < (8 << 20); off += PAGE)
            if (p[off])
                zero = 0;
        CHECK(zero, "populated pages are zero");
        munmap(p, 8 << 20);
    }
    errno = 0;
    void *z = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(z == MAP_FAILED && errno == EINVAL, "mmap length 0 fails EINVAL");
    return check_summary();
}
