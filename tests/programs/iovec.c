/* writev/readv on the standard pipes and a 4 MiB write(2) in one call.
 * argv[1] = "vec" (default) or "big". */
#include "hull_test.h"
#include <sys/uio.h>
#include <unistd.h>

static int vec(void) {
    char a[] = "first ", b[] = "", c[] = "second ", d[] = "third\n";
    struct iovec iov[4] = {{a, 6}, {b, 0}, {c, 7}, {d, 6}};
    fflush(stdout);
    ssize_t w = writev(1, iov, 4);
    char line[64];
    int n = snprintf(line, sizeof line, "writev returned %zd\n", w);
    write(1, line, (size_t)n);
    struct iovec eiov[2] = {{"to ", 3}, {"stderr\n", 7}};
    CHECK(writev(2, eiov, 2) == 10, "writev to stderr");
    CHECK(writev(1, iov, 0) == 0, "writev of zero iovecs");
    volatile int bad_count = -1;
    errno = 0;
    CHECK(writev(1, iov, bad_count) == -1 && errno == EINVAL, "writev iovcnt -1 EINVAL");
    CHECK(write(1, a, 0) == 0, "write of 0 bytes");

    /* readv: split stdin across three buffers, looping over short reads. */
    char x[5] = {0}, y[7] = {0}, z[64] = {0};
    struct iovec riov[3] = {{x, sizeof x}, {y, sizeof y}, {z, sizeof z - 1}};
    size_t total = 0;
    for (;;) {
        ssize_t r = readv(0, riov, 3);
        if (r <= 0)
            break;
        total += (size_t)r;
        /* Advance the iovecs past what was read. */
        size_t left = (size_t)r;
        for (int i = 0; i < 3 && left; i++) {
            size_t take = left < riov[i].iov_len ? left : riov[i].iov_len;
            riov[i].iov_base = (char *)riov[i].iov_base + take;
            riov[i].iov_len -= take;
            left -= take;
        }
        if (riov[2].iov_len == 0)
            break;
    }
    printf("readv total=%zu x=[%.5s] y=[%.7s] z=[%s]\n", total, x, y, z);
    return check_summary();
}

static int big(void) {
    size_t n = 4u << 20;
    char *p = malloc(n);
    if (!p)
        return 2;
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    for (size_t i = 99; i < n; i += 100)
        p[i] = '\n';
    ssize_t w = write(1, p, n);
    fprintf(stderr, "write of %zu bytes returned %zd\n", n, w);
    return w == (ssize_t)n ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "big") == 0)
        return big();
    return vec();
}
