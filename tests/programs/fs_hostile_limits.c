/* Hostile arguments to file calls. argv[1] = scratch directory, argv[2] = mode:
 *   efault  huge lengths and offsets, bad pointers for paths and buffers (the same
 *           result natively and under hull, so it runs as a differential test);
 *   emfile  opening one file until EMFILE, at the default RLIMIT_NOFILE (1024) and at
 *           4096, three times over, closing everything in between (hull only: the
 *           native limits are the host's);
 *   tmpfs   filling /tmp until ENOSPC (hull only, run with --tmpfs-size 1M). */
#include "fs_util.h"
#include <sys/mman.h>
#include <sys/resource.h>

static char *unmapped_after(size_t *page) {
    *page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * *page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + *page, *page);
    return p;
}

static int efault(void) {
    char data[8192];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('A' + i % 26);
    fs_write_bytes("f100", data, 100);
    fs_write_bytes("big8k", data, sizeof data);
    symlink("f100", "link");
    char buf[4096];
    int fd = open("f100", O_RDWR);

    /* Lengths. */
    EXPECT_ERR(syscall(SYS_read, fd, buf, SIZE_MAX), EFAULT, "read SIZE_MAX bytes");
    EXPECT_ERR(syscall(SYS_read, fd, buf, (size_t)1 << 62), EFAULT, "read 2^62 bytes");
    /* Linux checks only that the range is below the top of user space (a static buffer
     * is far from it) and copies what the file has. */
    static char lowbuf[4096];
    EXPECT_EQ(syscall(SYS_pread64, fd, lowbuf, (size_t)1 << 30, 0), 100,
              "read 1 GiB into 4 KiB from a 100-byte file gives 100");
    EXPECT_ERR(syscall(SYS_write, fd, buf, SIZE_MAX), EFAULT, "write SIZE_MAX bytes");
    EXPECT_ERR(syscall(SYS_pwrite64, fd, buf, SIZE_MAX, 0), EFAULT, "pwrite SIZE_MAX bytes");
    EXPECT_EQ(fs_size("f100"), 100, "the file is unchanged");
    char t[16];
    EXPECT_ERR(syscall(SYS_readlink, "link", t, SIZE_MAX), EINVAL,
               "readlink with bufsiz SIZE_MAX (an int -1 to Linux)");
    EXPECT_EQ(syscall(SYS_readlink, "link", t, (size_t)INT_MAX), 4, "readlink with bufsiz INT_MAX");
    EXPECT_ERR(syscall(SYS_readlink, "link", t, (size_t)1 << 31), EINVAL,
               "readlink with bufsiz 2^31 (negative as an int)");

    /* Offsets. */
    EXPECT_ERR(syscall(SYS_pwrite64, fd, "abcd", 4, LLONG_MAX - 1), EINVAL,
               "pwrite where offset + length overflows");
    EXPECT_ERR(syscall(SYS_pread64, fd, buf, 4, LLONG_MAX - 1), EINVAL,
               "pread where offset + length overflows");
    errno = 0;
    long r = syscall(SYS_pwrite64, fd, "abcd", 4, LLONG_MAX - 100);
    CHECK(r == -1 && (errno == EFBIG || errno == EINVAL),
          "pwrite near 2^63 is EFBIG or EINVAL");
    EXPECT_ERR(syscall(SYS_pwrite64, fd, "abcd", 4, -1L), EINVAL, "pwrite at -1");
    EXPECT_ERR(syscall(SYS_pread64, fd, buf, 4, LLONG_MIN), EINVAL, "pread at -2^63");
    EXPECT_ERR(lseek(fd, LLONG_MIN, SEEK_SET), EINVAL, "lseek to -2^63");
    EXPECT_ERR(syscall(SYS_fallocate, fd, 0, LLONG_MAX - 10, 100), EFBIG,
               "fallocate past the largest offset");
    EXPECT_ERR(syscall(SYS_ftruncate, fd, -1L), EINVAL, "ftruncate to -1");
    EXPECT_EQ(fs_size("f100"), 100, "still 100 bytes");

    /* Bad pointers. */
    EXPECT_ERR(syscall(SYS_open, NULL, O_RDONLY), EFAULT, "open(NULL)");
    EXPECT_ERR(syscall(SYS_open, (char *)1, O_RDONLY), EFAULT, "open(0x1)");
    EXPECT_ERR(syscall(SYS_open, (char *)0xffff800000000000UL, O_RDONLY), EFAULT,
               "open(kernel address)");
    EXPECT_ERR(syscall(SYS_open, (char *)0x0000800000000000UL, O_RDONLY), EFAULT,
               "open(non-canonical)");
    size_t page;
    char *p = unmapped_after(&page);
    memset(p, 'a', page);
    char *tail = p + page - 100; /* 100 bytes of 'a', then an unmapped page */
    EXPECT_ERR(syscall(SYS_open, tail, O_RDONLY), EFAULT, "a path running into unmapped memory");
    EXPECT_ERR(syscall(SYS_mkdir, tail, 0755), EFAULT, "mkdir with such a path");
    memcpy(p + page - 5, "f100", 5);
    int ok_fd = (int)syscall(SYS_open, p + page - 5, O_RDONLY);
    EXPECT_OK(ok_fd, "a path ending right at the end of a page");
    close(ok_fd);
    struct stat st;
    EXPECT_ERR(syscall(SYS_stat, "f100", NULL), EFAULT, "stat into NULL");
    EXPECT_ERR(syscall(SYS_stat, "f100", (void *)1), EFAULT, "stat into 0x1");
    EXPECT_ERR(syscall(SYS_fstat, fd, (void *)0xffff800000000000UL), EFAULT,
               "fstat into a kernel address");
    EXPECT_ERR(syscall(SYS_newfstatat, AT_FDCWD, (char *)1, &st, 0), EFAULT, "fstatat(0x1)");
    EXPECT_ERR(syscall(SYS_statx, AT_FDCWD, "f100", 0, 0x7ff, (void *)1), EFAULT, "statx into 0x1");
    EXPECT_ERR(syscall(SYS_read, fd, NULL, 10), EFAULT, "read into NULL");
    lseek(fd, 0, SEEK_SET);
    EXPECT_ERR(syscall(SYS_read, fd, (void *)0xffff800000000000UL, 10), EFAULT,
               "read into a kernel address");
    EXPECT_ERR(syscall(SYS_write, fd, (void *)1, 10), EFAULT, "write from 0x1");
    EXPECT_EQ(fs_size("f100"), 100, "still 100 bytes after bad writes");
    EXPECT_ERR(syscall(SYS_readlink, "link", (void *)1, 10), EFAULT, "readlink into 0x1");
    EXPECT_ERR(syscall(SYS_readlink, (char *)1, t, 10), EFAULT, "readlink(0x1)");
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_ERR(syscall(SYS_getdents64, dfd, (void *)1, 4096), EFAULT, "getdents64 into 0x1");
    close(dfd);
    EXPECT_ERR(syscall(SYS_getcwd, (void *)1, 100), EFAULT, "getcwd into 0x1");
    EXPECT_ERR(syscall(SYS_rename, NULL, "x"), EFAULT, "rename(NULL, x)");
    EXPECT_ERR(syscall(SYS_rename, "f100", (char *)1), EFAULT, "rename(f100, 0x1)");
    EXPECT_EQ(fs_exists("f100"), 1, "f100 is still there");
    EXPECT_ERR(syscall(SYS_unlink, (char *)1), EFAULT, "unlink(0x1)");
    EXPECT_ERR(syscall(SYS_symlink, "x", (char *)1), EFAULT, "symlink(x, 0x1)");
    EXPECT_ERR(syscall(SYS_link, (char *)1, "x"), EFAULT, "link(0x1, x)");
    EXPECT_ERR(syscall(SYS_chdir, (char *)1), EFAULT, "chdir(0x1)");
    EXPECT_ERR(syscall(SYS_utimensat, AT_FDCWD, "f100", (void *)1, 0), EFAULT,
               "utimensat times at 0x1");
    EXPECT_ERR(syscall(SYS_pipe2, (void *)1, 0), EFAULT, "pipe2 into 0x1");
    EXPECT_ERR(syscall(SYS_statfs, "f100", (void *)1), EFAULT, "statfs into 0x1");
    EXPECT_ERR(syscall(SYS_fcntl, fd, F_SETLK, (void *)1), EFAULT, "F_SETLK with 0x1");
    off_t *bad_off = (off_t *)1;
    int out = open("sf_out", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    EXPECT_ERR(syscall(SYS_sendfile, out, fd, bad_off, 10), EFAULT, "sendfile offset at 0x1");
    EXPECT_ERR(syscall(SYS_copy_file_range, fd, bad_off, out, NULL, 10, 0), EFAULT,
               "copy_file_range offset at 0x1");
    close(out);

    /* iovecs. */
    struct iovec bad_iov[2] = {{buf, 10}, {(void *)1, 10}};
    lseek(fd, 0, SEEK_SET);
    errno = 0;
    r = syscall(SYS_readv, fd, bad_iov, 2);
    CHECK(r == 10 || (r == -1 && errno == EFAULT), "readv with a bad second buffer: 10 or EFAULT");
    EXPECT_ERR(syscall(SYS_readv, fd, (void *)1, 2), EFAULT, "readv with the iovec array at 0x1");
    static struct iovec many[1025];
    for (int i = 0; i < 1025; i++)
        many[i] = (struct iovec){buf, 1};
    EXPECT_ERR(syscall(SYS_readv, fd, many, 1025), EINVAL, "readv with 1025 iovecs");
    struct iovec huge[2] = {{buf, SIZE_MAX / 2 + 1}, {buf, SIZE_MAX / 2 + 1}};
    EXPECT_ERR(syscall(SYS_writev, fd, huge, 2), EINVAL, "writev whose lengths overflow");
    struct iovec neg[1] = {{buf, (size_t)-1}};
    EXPECT_ERR(syscall(SYS_writev, fd, neg, 1), EINVAL, "writev of a length above SSIZE_MAX");
    EXPECT_EQ(fs_size("f100"), 100, "still 100 bytes after bad iovecs");

    /* A buffer whose second page is unmapped: Linux copies the first page. */
    int big = open("big8k", O_RDONLY);
    memset(p, 0, page);
    errno = 0;
    r = syscall(SYS_pread64, big, p, 8192, 0);
    CHECK(r == (long)page || (r == -1 && errno == EFAULT),
          "pread into a half-mapped buffer: one page or EFAULT");
    CHECK(r < 0 || memcmp(p, data, page) == 0, "what was read is right");
    close(big);
    int w = open("half", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    memcpy(p, data, page);
    errno = 0;
    r = syscall(SYS_write, w, p, 8192);
    CHECK(r == (long)page || (r == -1 && errno == EFAULT),
          "write from a half-mapped buffer: one page or EFAULT");
    close(w);
    long long hs = fs_size("half");
    CHECK(hs == (r < 0 ? 0 : (long long)page), "the file holds exactly what write returned");
    unlink("half");
    close(fd);
    munmap(p, page);
    printf("still running\n");
    return check_summary();
}

static int open_until_failure(int *fds, int cap, int *err) {
    int n = 0;
    *err = 0;
    while (n < cap) {
        int fd = open("same", O_RDONLY);
        if (fd < 0) {
            *err = errno;
            break;
        }
        fds[n++] = fd;
    }
    return n;
}

static int emfile(void) {
    fs_write_file("same", "the same file\n");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("RLIMIT_NOFILE: soft %lu, hard %lu\n", (unsigned long)rl.rlim_cur,
           (unsigned long)rl.rlim_max);
    static int fds[8192];
    int err;
    int n = open_until_failure(fds, 8192, &err);
    printf("opened at the default limit: %d, then %s\n", n, fs_errname(err));
    EXPECT_OK(dup(0) == -1 && errno == EMFILE ? 0 : -1, "dup is EMFILE too");
    int p[2];
    EXPECT_ERR(pipe(p), EMFILE, "pipe is EMFILE too");
    rl.rlim_cur = 4096;
    rl.rlim_max = 4096;
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &rl), "raise RLIMIT_NOFILE to 4096");
    int more = open_until_failure(fds + n, 8192 - n, &err);
    int total = n + more;
    printf("after raising: more opened: %s, then %s, total <= 4093: %s\n",
           more > 0 ? "yes" : "no", fs_errname(err), total <= 4093 ? "yes" : "no");
    char buf[32] = {0};
    CHECK(pread(fds[total - 1], buf, sizeof buf - 1, 0) == 14, "the last one reads");
    for (int i = 0; i < total; i++)
        close(fds[i]);
    /* Closing returns the host's handles: two more rounds reach the same count. */
    for (int round = 2; round <= 3; round++) {
        int again = open_until_failure(fds, 8192, &err);
        printf("round %d: the same count: %s, then %s\n", round, again == total ? "yes" : "no",
               fs_errname(err));
        for (int i = 0; i < again; i++)
            close(fds[i]);
    }
    int fd = open("same", O_RDONLY);
    memset(buf, 0, sizeof buf);
    CHECK(fd >= 0 && read(fd, buf, sizeof buf - 1) == 14, "a file opens and reads after it all");
    close(fd);
    return check_summary();
}

static int tmpfs_full(void) {
    static char chunk[65536];
    memset(chunk, 't', sizeof chunk);
    int fd = open("/tmp/fill", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    EXPECT_OK(fd, "create /tmp/fill");
    long total = 0;
    int err = 0;
    for (int i = 0; i < 64; i++) { /* at most 4 MiB */
        ssize_t w = write(fd, chunk, sizeof chunk);
        if (w < 0) {
            err = errno;
            break;
        }
        total += w;
        if (w < (ssize_t)sizeof chunk) {
            w = write(fd, chunk, sizeof chunk);
            if (w < 0)
                err = errno;
            break;
        }
    }
    close(fd);
    printf("filling a 1 MiB /tmp ends with: %s\n", fs_errname(err));
    printf("wrote more than 0 and at most 1 MiB: %s\n",
           total > 0 && total <= (1 << 20) ? "yes" : "no");
    EXPECT_OK(unlink("/tmp/fill"), "unlink the big file");
    fd = open("/tmp/again", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    EXPECT_EQ(write(fd, chunk, sizeof chunk), (long)sizeof chunk, "the space came back");
    close(fd);
    return check_summary();
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    const char *mode = argc > 2 ? argv[2] : "efault";
    if (strcmp(mode, "efault") == 0)
        return efault();
    if (strcmp(mode, "emfile") == 0)
        return emfile();
    if (strcmp(mode, "tmpfs") == 0)
        return tmpfs_full();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
