/* Descriptors on files: dup/dup2/dup3 (shared offsets and status flags, separate
 * close-on-exec), fcntl F_DUPFD/F_DUPFD_CLOEXEC/F_GETFD/F_SETFD/F_GETFL/F_SETFL, and
 * locks within one process (F_SETLK/F_GETLK, OFD locks, flock). Never prints an fd
 * number: the native run may inherit extra descriptors. argv[1] = scratch directory. */
#include "fs_util.h"
#include <sys/file.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#endif

static void dups(void) {
    fs_write_file("data", "0123456789");
    int fd = open("data", O_RDWR | O_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC, "O_CLOEXEC sets FD_CLOEXEC");
    int d = dup(fd);
    EXPECT_OK(d, "dup");
    CHECK(d != fd, "dup gives a new number");
    EXPECT_EQ(fcntl(d, F_GETFD), 0, "dup clears FD_CLOEXEC");
    EXPECT_EQ(lseek(fd, 3, SEEK_SET), 3, "lseek on the original");
    EXPECT_EQ(lseek(d, 0, SEEK_CUR), 3, "the dup shares the offset");
    char c = 0;
    EXPECT_EQ(read(d, &c, 1), 1, "read through the dup");
    EXPECT_EQ(c, '3', "the dup read at the shared offset");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 4, "the original's offset moved");
    EXPECT_OK(fcntl(fd, F_SETFL, O_APPEND), "F_SETFL O_APPEND on the original");
    CHECK((fcntl(d, F_GETFL) & O_APPEND) != 0, "status flags are shared with the dup");
    fcntl(fd, F_SETFL, 0);
    close(fd);
    EXPECT_EQ(read(d, &c, 1), 1, "the dup works after the original is closed");

    EXPECT_EQ(dup2(d, d), d, "dup2(fd, fd) returns fd");
    EXPECT_ERR(dup3(d, d, 0), EINVAL, "dup3(fd, fd) is EINVAL");
    EXPECT_EQ(dup3(d, 400, O_CLOEXEC), 400, "dup3 to 400 with O_CLOEXEC");
    EXPECT_EQ(fcntl(400, F_GETFD), FD_CLOEXEC, "dup3 O_CLOEXEC sets FD_CLOEXEC");
    EXPECT_ERR(syscall(SYS_dup3, d, 401, 0x1), EINVAL, "dup3 with a bad flag");
    EXPECT_EQ(dup2(d, 401), 401, "dup2 to 401");
    EXPECT_EQ(fcntl(401, F_GETFD), 0, "dup2 does not set FD_CLOEXEC");
    EXPECT_ERR(dup2(900, 402), EBADF, "dup2 from a closed fd");
    EXPECT_ERR(dup(-1), EBADF, "dup(-1)");
    EXPECT_ERR(dup2(d, -1), EBADF, "dup2 to -1");
    EXPECT_ERR(dup2(d, 1 << 30), EBADF, "dup2 beyond RLIMIT_NOFILE");

    /* dup2 onto an open descriptor closes it first. */
    fs_write_file("other", "OTHER");
    int o = open("other", O_RDONLY);
    dup2(o, 401);
    close(o);
    char buf[8] = {0};
    EXPECT_EQ(pread(401, buf, 5, 0), 5, "dup2 replaced 401");
    EXPECT_STR(buf, "OTHER", "401 now reads the other file");
    close(400);
    close(401);

    int f = fcntl(d, F_DUPFD, 500);
    EXPECT_EQ(f >= 500, 1, "F_DUPFD 500 gives >= 500");
    EXPECT_EQ(fcntl(f, F_GETFD), 0, "F_DUPFD clears FD_CLOEXEC");
    int g = fcntl(d, F_DUPFD, 500);
    CHECK(g > f, "F_DUPFD takes the next free one");
    int h = fcntl(d, F_DUPFD_CLOEXEC, 500);
    CHECK(h > g, "F_DUPFD_CLOEXEC above");
    EXPECT_EQ(fcntl(h, F_GETFD), FD_CLOEXEC, "F_DUPFD_CLOEXEC sets FD_CLOEXEC");
    EXPECT_ERR(fcntl(d, F_DUPFD, -1), EINVAL, "F_DUPFD with a negative minimum");
    EXPECT_ERR(fcntl(d, F_DUPFD, 1 << 30), EINVAL, "F_DUPFD above RLIMIT_NOFILE");
    close(f);
    close(g);
    close(h);
    close(d);
}

static void fd_flags(void) {
    int fd = open("data", O_RDWR);
    EXPECT_EQ(fcntl(fd, F_GETFD), 0, "F_GETFD 0");
    EXPECT_OK(fcntl(fd, F_SETFD, FD_CLOEXEC), "F_SETFD FD_CLOEXEC");
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC, "F_GETFD FD_CLOEXEC");
    EXPECT_OK(fcntl(fd, F_SETFD, 0), "F_SETFD 0");
    EXPECT_EQ(fcntl(fd, F_GETFD), 0, "F_GETFD back to 0");
    int fl = fcntl(fd, F_GETFL);
    EXPECT_EQ(fl & O_ACCMODE, O_RDWR, "F_GETFL O_RDWR");
    EXPECT_EQ(fl & (O_APPEND | O_NONBLOCK), 0, "no O_APPEND/O_NONBLOCK");
    EXPECT_OK(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK), "F_SETFL O_APPEND|O_NONBLOCK");
    fl = fcntl(fd, F_GETFL);
    EXPECT_EQ(fl & (O_APPEND | O_NONBLOCK), O_APPEND | O_NONBLOCK, "F_GETFL shows both");
    EXPECT_OK(fcntl(fd, F_SETFL, O_RDONLY), "F_SETFL O_RDONLY");
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR, "F_SETFL cannot change the access mode");
    close(fd);
    fd = open("data", O_WRONLY);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY, "F_GETFL O_WRONLY");
    close(fd);
    fd = open("data", O_RDONLY);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY, "F_GETFL O_RDONLY");
    EXPECT_ERR(fcntl(fd, 9999), EINVAL, "fcntl with an unknown command");
    close(fd);
    EXPECT_ERR(fcntl(-1, F_GETFD), EBADF, "fcntl on a bad fd");
}

static void locks(void) {
    int fd = open("data", O_RDWR);
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5};
    EXPECT_OK(fcntl(fd, F_SETLK, &l), "F_SETLK write lock");
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    EXPECT_OK(fcntl(fd, F_GETLK, &q), "F_GETLK");
    EXPECT_EQ(q.l_type, F_UNLCK, "own POSIX locks never conflict");
    int fd2 = open("data", O_RDWR);
    struct flock l2 = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5};
    EXPECT_OK(fcntl(fd2, F_SETLK, &l2), "F_SETLK read lock through another fd (same process)");
    l.l_type = F_UNLCK;
    EXPECT_OK(fcntl(fd, F_SETLK, &l), "F_SETLK unlock");
    struct flock bad = {.l_type = 99, .l_whence = SEEK_SET};
    EXPECT_ERR(fcntl(fd, F_SETLK, &bad), EINVAL, "F_SETLK with a bad type");
    int ro = open("data", O_RDONLY);
    struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    EXPECT_ERR(fcntl(ro, F_SETLK, &w), EBADF, "write lock on an O_RDONLY fd");
    close(ro);

    /* Open-file-description locks conflict between two opens in one process. */
    struct flock o1 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 4};
    EXPECT_OK(fcntl(fd, F_OFD_SETLK, &o1), "F_OFD_SETLK write lock");
    struct flock o2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 4};
    EXPECT_OK(fcntl(fd2, F_OFD_GETLK, &o2), "F_OFD_GETLK from another open");
    EXPECT_EQ(o2.l_type, F_WRLCK, "the OFD lock shows as a conflict");
    EXPECT_EQ(o2.l_start, 0, "conflicting lock start");
    EXPECT_EQ(o2.l_len, 4, "conflicting lock length");
    EXPECT_EQ(o2.l_pid, -1, "OFD lock pid is -1");
    struct flock o3 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 4};
    EXPECT_ERR(fcntl(fd2, F_OFD_SETLK, &o3), EAGAIN, "conflicting F_OFD_SETLK is EAGAIN");
    o1.l_type = F_UNLCK;
    EXPECT_OK(fcntl(fd, F_OFD_SETLK, &o1), "F_OFD_SETLK unlock");
    EXPECT_OK(fcntl(fd2, F_OFD_SETLK, &o3), "F_OFD_SETLK succeeds after the unlock");

    /* flock: per open file description. */
    int fa = open("other", O_RDONLY), fb = open("other", O_RDONLY);
    EXPECT_OK(flock(fa, LOCK_EX | LOCK_NB), "flock LOCK_EX");
    EXPECT_ERR(flock(fb, LOCK_EX | LOCK_NB), EWOULDBLOCK, "a second open cannot LOCK_EX");
    EXPECT_ERR(flock(fb, LOCK_SH | LOCK_NB), EWOULDBLOCK, "nor LOCK_SH");
    int fa2 = dup(fa);
    EXPECT_OK(flock(fa2, LOCK_EX | LOCK_NB), "a dup shares the flock");
    EXPECT_OK(flock(fa, LOCK_UN), "LOCK_UN");
    EXPECT_OK(flock(fb, LOCK_SH | LOCK_NB), "LOCK_SH after the unlock");
    EXPECT_OK(flock(fa, LOCK_SH | LOCK_NB), "two shared locks");
    EXPECT_ERR(flock(fa, 0), EINVAL, "flock with no operation");
    close(fa);
    close(fa2);
    close(fb);
    close(fd);
    close(fd2);
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    dups();
    fd_flags();
    locks();
    fs_list("scratch", ".", 100);
    return check_summary();
}
