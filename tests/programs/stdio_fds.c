/* The standard descriptors as the tests set them up (three pipes), plus fd basics:
 * dup, dup2, fcntl, pipe, EBADF. */
#include "hull_test.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    for (int fd = 0; fd <= 2; fd++) {
        errno = 0;
        int t = isatty(fd);
        printf("isatty(%d)=%d errno=%s\n", fd, t, errno_name(t ? 0 : errno));
        struct stat st;
        int r = fstat(fd, &st);
        printf("fstat(%d)=%d fifo=%d\n", fd, r, r == 0 && S_ISFIFO(st.st_mode));
    }
    CHECK((fcntl(0, F_GETFL) & O_ACCMODE) == O_RDONLY, "stdin is O_RDONLY");
    CHECK((fcntl(1, F_GETFL) & O_ACCMODE) == O_WRONLY, "stdout is O_WRONLY");
    CHECK(fcntl(1, F_GETFD) == 0, "stdout has no FD_CLOEXEC");
    errno = 0;
    CHECK(lseek(0, 0, SEEK_CUR) == -1 && errno == ESPIPE, "lseek on a pipe ESPIPE");
    char c;
    errno = 0;
    CHECK(pread(0, &c, 1, 0) == -1 && errno == ESPIPE, "pread on a pipe ESPIPE");
    errno = 0;
    CHECK(pwrite(1, "x", 1, 0) == -1 && errno == ESPIPE, "pwrite on a pipe ESPIPE");

    fflush(stdout);
    int d = dup(1);
    CHECK(d == 3, "dup(1) returns the lowest free fd, 3");
    CHECK(write(d, "through dup\n", 12) == 12, "write through dup");
    CHECK(dup2(1, 10) == 10, "dup2(1, 10)");
    CHECK(write(10, "through dup2\n", 13) == 13, "write through dup2");
    int e = fcntl(1, F_DUPFD_CLOEXEC, 20);
    CHECK(e == 20 && fcntl(e, F_GETFD) == FD_CLOEXEC, "F_DUPFD_CLOEXEC from 20");
    CHECK(close(d) == 0 && close(10) == 0 && close(e) == 0, "close the duplicates");
    errno = 0;
    CHECK(write(10, "x", 1) == -1 && errno == EBADF, "write to closed fd EBADF");
    errno = 0;
    CHECK(close(10) == -1 && errno == EBADF, "double close EBADF");
    struct stat st;
    errno = 0;
    CHECK(fstat(1000, &st) == -1 && errno == EBADF, "fstat(1000) EBADF");
    errno = 0;
    CHECK(dup2(1, -1) == -1 && errno == EBADF, "dup2 to -1 EBADF");

    /* A pipe inside the program. */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0 && p[0] == 3 && p[1] == 4, "pipe2 gives fds 3 and 4");
    CHECK(write(p[1], "pipe data", 9) == 9, "write into the pipe");
    char buf[32] = {0};
    CHECK(read(p[0], buf, sizeof buf) == 9 && memcmp(buf, "pipe data", 9) == 0, "read it back");
    close(p[1]);
    CHECK(read(p[0], buf, sizeof buf) == 0, "EOF after the writer closes");
    close(p[0]);
    struct stat pst;
    CHECK(pipe(p) == 0 && fstat(p[0], &pst) == 0 && S_ISFIFO(pst.st_mode), "pipe is a FIFO");
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE, "write with no reader EPIPE (SIGPIPE ignored)");
    close(p[1]);
    return check_summary();
}
