/* A wc-like: counts bytes, lines and words of stdin and hashes it.
 * argv[1] = "read" (raw read(2) with odd chunk sizes) or "stdio" (getchar). */
#include "hull_test.h"
#include <ctype.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "read";
    unsigned long long bytes = 0, lines = 0, words = 0, reads = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    int in_word = 0;
    static unsigned char buf[70000];
    if (strcmp(mode, "stdio") == 0) {
        int c;
        while ((c = getchar()) != EOF) {
            unsigned char b = (unsigned char)c;
            bytes++;
            h = fnv1a_update(h, &b, 1);
            if (c == '\n')
                lines++;
            if (isspace(c))
                in_word = 0;
            else if (!in_word) {
                in_word = 1;
                words++;
            }
        }
        CHECK(!ferror(stdin), "no stdin error");
    } else {
        /* Vary the request size so short reads and partial pipe buffers are exercised. */
        static const size_t sizes[] = {1, 7, 4096, 65536, 13, 70000, 512};
        size_t k = 0;
        for (;;) {
            ssize_t r = read(0, buf, sizes[k++ % (sizeof sizes / sizeof sizes[0])]);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                printf("read failed: %s\n", errno_name(errno));
                return 2;
            }
            if (r == 0)
                break;
            reads++;
            h = fnv1a_update(h, buf, (size_t)r);
            for (ssize_t i = 0; i < r; i++) {
                bytes++;
                if (buf[i] == '\n')
                    lines++;
                if (isspace(buf[i]))
                    in_word = 0;
                else if (!in_word) {
                    in_word = 1;
                    words++;
                }
            }
        }
        /* A second read at EOF must keep returning 0. */
        CHECK(read(0, buf, 10) == 0, "read after EOF returns 0");
        CHECK(bytes == 0 || reads > 0, "read count sane");
    }
    printf("bytes=%llu lines=%llu words=%llu fnv=%016llx\n", bytes, lines, words,
           (unsigned long long)h);
    return check_summary();
}
