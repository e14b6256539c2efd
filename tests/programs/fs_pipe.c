/* Pipes: pipe/pipe2 flags, the 64 KiB capacity with O_NONBLOCK (EAGAIN when full, a
 * partial write of a large buffer), FIONREAD, EOF, EPIPE with SIGPIPE ignored and
 * handled, ESPIPE. argv[1] = scratch directory (unused but for the common contract);
 * argv[2] = "die" writes to a pipe without a reader under the default SIGPIPE action. */
#include "fs_util.h"
#include <signal.h>
#include <sys/ioctl.h>

#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ 1032
#endif

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) {
    (void)sig;
    sigpipes++;
}

static void basics(void) {
    int p[2];
    EXPECT_OK(pipe(p), "pipe");
    EXPECT_EQ(fcntl(p[0], F_GETFD), 0, "pipe: no FD_CLOEXEC");
    EXPECT_EQ(fcntl(p[0], F_GETFL) & O_ACCMODE, O_RDONLY, "read end is O_RDONLY");
    EXPECT_EQ(fcntl(p[1], F_GETFL) & O_ACCMODE, O_WRONLY, "write end is O_WRONLY");
    struct stat st;
    fstat(p[0], &st);
    EXPECT_STR(fs_type_name(st.st_mode), "fifo", "a pipe is a FIFO");
    EXPECT_EQ(write(p[1], "hello", 5), 5, "write 5");
    char buf[16] = {0};
    EXPECT_EQ(read(p[0], buf, 3), 3, "read 3");
    EXPECT_EQ(read(p[0], buf + 3, 10), 2, "read the rest (short)");
    EXPECT_STR(buf, "hello", "pipe content");
    EXPECT_ERR(write(p[0], "x", 1), EBADF, "write to the read end");
    EXPECT_ERR(read(p[1], buf, 1), EBADF, "read from the write end");
    EXPECT_ERR(lseek(p[0], 0, SEEK_SET), ESPIPE, "lseek on a pipe");
    write(p[1], "tail", 4);
    close(p[1]);
    EXPECT_EQ(read(p[0], buf, sizeof buf), 4, "data after the writer closed");
    EXPECT_EQ(read(p[0], buf, sizeof buf), 0, "then EOF");
    close(p[0]);

    EXPECT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK), "pipe2 O_CLOEXEC|O_NONBLOCK");
    EXPECT_EQ(fcntl(p[0], F_GETFD), FD_CLOEXEC, "pipe2: FD_CLOEXEC on the read end");
    EXPECT_EQ(fcntl(p[1], F_GETFD), FD_CLOEXEC, "pipe2: FD_CLOEXEC on the write end");
    CHECK((fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(p[1], F_GETFL) & O_NONBLOCK),
          "pipe2: O_NONBLOCK on both ends");
    EXPECT_ERR(read(p[0], buf, 1), EAGAIN, "empty non-blocking read is EAGAIN");
    close(p[0]);
    close(p[1]);
    EXPECT_ERR(pipe2(p, 0x1), EINVAL, "pipe2 with a bad flag");
}

static void capacity(void) {
    int p[2];
    pipe2(p, O_NONBLOCK);
    EXPECT_EQ(fcntl(p[1], F_GETPIPE_SZ), 65536, "F_GETPIPE_SZ is 64 KiB");
    static char chunk[4096];
    memset(chunk, 'c', sizeof chunk);
    long total = 0;
    int err = 0;
    for (int i = 0; i < 100; i++) {
        ssize_t w = write(p[1], chunk, sizeof chunk);
        if (w < 0) {
            err = errno;
            break;
        }
        total += w;
    }
    EXPECT_EQ(total, 65536, "a non-blocking pipe holds 64 KiB");
    EXPECT_STR(fs_errname(err), "EAGAIN", "the next write is EAGAIN");
    int n = -1;
    EXPECT_OK(ioctl(p[0], FIONREAD, &n), "FIONREAD on a full pipe");
    EXPECT_EQ(n, 65536, "FIONREAD = 65536");
    EXPECT_ERR(write(p[1], "x", 1), EAGAIN, "even 1 byte is EAGAIN");
    EXPECT_EQ(read(p[0], chunk, sizeof chunk), 4096, "read a page");
    EXPECT_EQ(write(p[1], chunk, sizeof chunk), 4096, "then a page fits again");
    long drained = 0;
    for (;;) {
        ssize_t r = read(p[0], chunk, sizeof chunk);
        if (r <= 0)
            break;
        drained += r;
    }
    EXPECT_EQ(drained, 65536, "drained 64 KiB");
    ioctl(p[0], FIONREAD, &n);
    EXPECT_EQ(n, 0, "FIONREAD = 0 when empty");

    /* A large non-blocking write into an empty pipe is partial. */
    static char big[100000];
    memset(big, 'b', sizeof big);
    EXPECT_EQ(write(p[1], big, sizeof big), 65536, "partial write of 100000 bytes");
    close(p[0]);
    close(p[1]);
}

static void broken(void) {
    int p[2];
    pipe(p);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    EXPECT_ERR(write(p[1], "x", 1), EPIPE, "write without a reader (SIGPIPE ignored)");
    signal(SIGPIPE, on_sigpipe);
    sigpipes = 0;
    EXPECT_ERR(write(p[1], "x", 1), EPIPE, "write without a reader (SIGPIPE handled)");
    EXPECT_EQ(sigpipes, 1, "the handler saw one SIGPIPE");
    struct iovec v[1] = {{"y", 1}};
    EXPECT_ERR(writev(p[1], v, 1), EPIPE, "writev without a reader");
    EXPECT_EQ(sigpipes, 2, "and a second SIGPIPE");
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &old);
    EXPECT_ERR(write(p[1], "z", 1), EPIPE, "write without a reader (SIGPIPE blocked)");
    sigset_t pending;
    sigpending(&pending);
    EXPECT_EQ(sigismember(&pending, SIGPIPE), 1, "SIGPIPE is pending while blocked");
    sigprocmask(SIG_SETMASK, &old, NULL);
    EXPECT_EQ(sigpipes, 3, "delivered on unblocking");
    close(p[1]);
    signal(SIGPIPE, SIG_DFL);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    (void)argc;
    if (argc > 2 && strcmp(argv[2], "die") == 0) {
        int p[2];
        pipe(p);
        close(p[0]);
        printf("writing to a pipe without a reader\n");
        write(p[1], "x", 1);
        printf("still alive (wrong)\n");
        return 0;
    }
    basics();
    capacity();
    broken();
    return check_summary();
}
