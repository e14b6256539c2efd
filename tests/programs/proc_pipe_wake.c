/* Reads that are blocked on a pipe when the data arrives (hull completes them at the
 * write, straight into the reader's buffer): a buffer not yet touched (fresh mmap), a
 * read smaller than the write (the rest stays), the EOF of the last writer's close, a
 * buffer that cannot be written (EFAULT, the data stays in the pipe), and a reader that
 * is a thread of the writer's process. Each reader is given time to block first. */
#include "proc_util.h"
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static int p[2];

/* An address no program can write (hidden from the compiler's buffer checks). */
static void *volatile bad_buffer = (void *)8;

/* A child blocks reading `n` bytes into `buf`; the parent then writes `write_what` (or
 * closes the pipe, for NULL) and checks what the read returned, through a second pipe. */
static void expect_read(const char *label, void *buf, size_t n, const char *write_what,
                        long want_ret, int want_errno) {
    CHECK(pipe(p) == 0, "pipe");
    int back[2];
    CHECK(pipe(back) == 0, "pipe back");
    pid_t c = xfork();
    if (c == 0) {
        close(p[1]);
        errno = 0;
        long r = read(p[0], buf, n);
        long res[2] = {r, r < 0 ? errno : 0};
        write(back[1], res, sizeof res);
        if (r > 0)
            write(back[1], buf, (size_t)r);
        _exit(0);
    }
    close(p[0]);
    msleep(50); /* the child is blocked in its read by now */
    if (write_what)
        write(p[1], write_what, strlen(write_what));
    else
        close(p[1]);
    long res[2] = {-2, 0};
    read_full(back[0], res, sizeof res);
    char got[128] = {0};
    if (res[0] > 0)
        read_full(back[0], got, (size_t)res[0]);
    CHECK(xwait(c) == 0, label);
    char name[160];
    snprintf(name, sizeof name, "%s: result", label);
    CHECK(res[0] == want_ret && res[1] == want_errno, name);
    if (want_ret > 0) {
        snprintf(name, sizeof name, "%s: bytes", label);
        CHECK(memcmp(got, write_what, (size_t)want_ret) == 0, name);
    }
    if (write_what)
        close(p[1]);
    close(back[0]);
    close(back[1]);
}

/* A child that blocks reading p[0] and judges the outcome itself (exit 0: as expected);
 * the parent writes `data` once the child is blocked. */
static void check_child(const char *label, int (*child)(void), const char *data) {
    CHECK(pipe(p) == 0, "pipe");
    pid_t c = xfork();
    if (c == 0) {
        close(p[1]);
        _exit(child());
    }
    msleep(50);
    write(p[1], data, strlen(data));
    CHECK(xwait(c) == 0, label);
    close(p[0]);
    close(p[1]);
}

/* Reads 4 of the 10 bytes; the other 6 stay in the pipe. */
static int short_read(void) {
    char b[4];
    long r = read(p[0], b, 4);
    int left = -1;
    ioctl(p[0], FIONREAD, &left);
    return r == 4 && memcmp(b, "abcd", 4) == 0 && left == 6 ? 0 : 1;
}

/* EFAULT, and the data is still there for the next read. */
static int faulting_read(void) {
    long r = read(p[0], bad_buffer, 16);
    int e = errno;
    char b[8] = {0};
    long r2 = read(p[0], b, sizeof b);
    return r == -1 && e == EFAULT && r2 == 4 && memcmp(b, "keep", 4) == 0 ? 0 : 1;
}

static char thread_buf[64];
static long thread_ret;

static void *thread_reader(void *arg) {
    (void)arg;
    thread_ret = read(p[0], thread_buf, sizeof thread_buf);
    return NULL;
}

int main(void) {
    proc_init();
    char *fresh = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect_read("into an untouched buffer", fresh + 4000, 1 << 12, "hello across a page", 19, 0);
    char small[8];
    expect_read("a read smaller than the write", small, 5, "0123456789", 5, 0);
    expect_read("the last writer closes", small, sizeof small, NULL, 0, 0);
    expect_read("a buffer that cannot be written", bad_buffer, 16, "data", -1, EFAULT);

    check_child("a short blocked read leaves the rest in the pipe", short_read, "abcdefghij");
    check_child("after EFAULT the data is still there", faulting_read, "keep");

    /* A thread of the writer's process. */
    CHECK(pipe(p) == 0, "pipe");
    pthread_t t;
    pthread_create(&t, NULL, thread_reader, NULL);
    msleep(50);
    write(p[1], "to the thread", 13);
    pthread_join(t, NULL);
    CHECK(thread_ret == 13 && memcmp(thread_buf, "to the thread", 13) == 0,
          "a reader thread of the writing process");
    return check_summary();
}
