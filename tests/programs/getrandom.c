/* getrandom: lengths honoured, data not constant, flags validated. */
#include "hull_test.h"
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

static int distinct_bytes(const unsigned char *p, size_t n) {
    int seen[256] = {0}, d = 0;
    for (size_t i = 0; i < n; i++)
        if (!seen[p[i]]++)
            d++;
    return d;
}

int main(void) {
    unsigned char a[64], b[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    CHECK(getrandom(a, sizeof a, 0) == (ssize_t)sizeof a, "getrandom 64 bytes");
    CHECK(getrandom(b, sizeof b, 0) == (ssize_t)sizeof b, "getrandom 64 more bytes");
    CHECK(memcmp(a, b, sizeof a) != 0, "two draws differ");
    CHECK(distinct_bytes(a, sizeof a) >= 16, "64 bytes are not constant");

    static unsigned char big[4096];
    memset(big, 0, sizeof big);
    CHECK(getrandom(big, sizeof big, 0) == (ssize_t)sizeof big, "getrandom 4096 bytes");
    CHECK(distinct_bytes(big, sizeof big) >= 200, "4096 bytes cover most byte values");
    int zeros = 0;
    for (size_t i = 0; i < 1024; i++)
        if (big[i] == 0 && big[i + 1024] == 0 && big[i + 2048] == 0 && big[i + 3072] == 0)
            zeros++;
    CHECK(zeros < 4, "no long zero runs");

    /* Only the requested length is written. */
    unsigned char c[32];
    memset(c, 0xAB, sizeof c);
    CHECK(getrandom(c, 16, 0) == 16, "getrandom 16 into 32");
    int untouched = 1;
    for (int i = 16; i < 32; i++)
        if (c[i] != 0xAB)
            untouched = 0;
    CHECK(untouched, "bytes past the length untouched");

    CHECK(getrandom(c, 32, GRND_NONBLOCK) == 32, "GRND_NONBLOCK");
    CHECK(getrandom(c, 0, 0) == 0, "length 0 returns 0");
    errno = 0;
    CHECK(syscall(SYS_getrandom, c, 8, 0x1000) == -1 && errno == EINVAL, "unknown flag EINVAL");
    errno = 0;
    CHECK(syscall(SYS_getrandom, (void *)1, 8, 0) == -1 && errno == EFAULT, "bad buffer EFAULT");
    return check_summary();
}
