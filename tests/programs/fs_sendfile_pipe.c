/* sendfile from a file into a pipe whose reader is slower than the writer: every byte
 * arrives once, in order (a write that only partly fits must not lose the rest), for a
 * file in /tmp, with and without an explicit offset. */
#include "proc_util.h"
#include <sys/sendfile.h>

#define SIZE (1 << 20)

static uint64_t pattern_hash(size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)(i * 7 + i / 4096);
        h = fnv1a_update(h, &b, 1);
    }
    return h;
}

/* A child that reads the pipe slowly and reports how much and what it got. */
static void check(const char *label, int fd, int use_offset) {
    int p[2], back[2];
    CHECK(pipe(p) == 0 && pipe(back) == 0, "pipes");
    pid_t c = xfork();
    if (c == 0) {
        close(p[1]);
        uint64_t h = 1469598103934665603ull, n = 0;
        char buf[3000];
        ssize_t r;
        while ((r = read(p[0], buf, sizeof buf)) > 0) {
            h = fnv1a_update(h, buf, (size_t)r);
            n += (uint64_t)r;
            if (n % 65536 < 3000)
                msleep(1);
        }
        uint64_t res[2] = {n, h};
        write(back[1], res, sizeof res);
        _exit(0);
    }
    close(p[0]);
    off_t off = 0;
    long sent = 0;
    lseek(fd, 0, SEEK_SET);
    while (sent < SIZE) {
        ssize_t r = use_offset ? sendfile(p[1], fd, &off, SIZE - sent)
                               : sendfile(p[1], fd, NULL, SIZE - sent);
        if (r <= 0) {
            printf("%s: sendfile returned %ld (%s)\n", label, (long)r, proc_errname(errno));
            break;
        }
        sent += r;
    }
    close(p[1]);
    uint64_t res[2] = {0, 0};
    read_full(back[0], res, sizeof res);
    xwait(c);
    close(back[0]);
    close(back[1]);
    char name[128];
    snprintf(name, sizeof name, "%s: sendfile reported every byte", label);
    CHECK(sent == SIZE, name);
    snprintf(name, sizeof name, "%s: the reader got every byte once, in order", label);
    CHECK(res[0] == SIZE && res[1] == pattern_hash(SIZE), name);
    if (use_offset) {
        snprintf(name, sizeof name, "%s: the offset advanced by all of it", label);
        CHECK(off == SIZE && lseek(fd, 0, SEEK_CUR) == 0, name);
    }
}

int main(void) {
    proc_init();
    char path[64];
    snprintf(path, sizeof path, "/tmp/fs_sendfile_pipe.%d", (int)getpid());
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0, "create");
    static unsigned char data[SIZE];
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (unsigned char)(i * 7 + i / 4096);
    CHECK(write(fd, data, SIZE) == SIZE, "write 1 MiB");
    check("file position", fd, 0);
    check("explicit offset", fd, 1);
    close(fd);
    unlink(path);
    return check_summary();
}
