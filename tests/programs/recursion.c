/* Deep recursion that uses about 6 MiB of the main thread's 8 MiB stack, plus a large
 * stack array, so the stack must grow on demand far below its initial pages. */
#include "hull_test.h"
#include <sys/resource.h>

#define FRAME_PAD 48
#define DEPTH 100000

static uintptr_t deepest;

static __attribute__((noinline)) unsigned long rec(unsigned long n) {
    volatile unsigned char pad[FRAME_PAD];
    pad[0] = (unsigned char)n;
    pad[FRAME_PAD - 1] = (unsigned char)(n >> 3);
    if (n == 0) {
        deepest = (uintptr_t)pad;
        return pad[0];
    }
    unsigned long r = rec(n - 1);
    return r + pad[0] + pad[FRAME_PAD - 1];
}

static __attribute__((noinline)) unsigned long big_frame(void) {
    volatile unsigned char arr[2 << 20];
    for (size_t i = 0; i < sizeof arr; i += 4096)
        arr[i] = (unsigned char)(i >> 12);
    unsigned long s = 0;
    for (size_t i = 0; i < sizeof arr; i += 4096)
        s += arr[i];
    return s;
}

int main(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (8UL << 20)) {
        printf("stack limit below 8 MiB; test needs the default\n");
        return 2;
    }
    volatile unsigned char top_marker = 0;
    uintptr_t top = (uintptr_t)&top_marker;
    unsigned long r = rec(DEPTH);
    unsigned long used = top - deepest;
    printf("depth=%d result=%lu\n", DEPTH, r);
    CHECK(used >= (5UL << 20), "recursion used at least 5 MiB of stack");
    CHECK(used <= (7UL << 20), "recursion used at most 7 MiB of stack");
    printf("big frame sum=%lu\n", big_frame());
    /* Do it twice: the grown stack stays usable. */
    CHECK(rec(DEPTH) == r, "second deep recursion agrees");
    return check_summary();
}
