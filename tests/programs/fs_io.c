/* Data paths on files: read/write/pread/pwrite/readv/writev/preadv/pwritev/preadv2,
 * lseek (incl. SEEK_DATA/SEEK_HOLE on a sparse file and offsets past 4 GiB), O_APPEND,
 * truncate/ftruncate, fallocate, fsync/fdatasync/sync/syncfs, sendfile,
 * copy_file_range and FIONREAD. argv[1] = scratch directory. */
#include "fs_util.h"
#include <sys/ioctl.h>
#include <sys/sendfile.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif

static void basic_rw(void) {
    int fd = open("io", O_CREAT | O_RDWR | O_TRUNC, 0644);
    EXPECT_OK(fd, "open io");
    EXPECT_EQ(write(fd, "0123456789", 10), 10, "write 10");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 10, "offset after write");
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0, "SEEK_SET 0");
    char buf[64] = {0};
    EXPECT_EQ(read(fd, buf, 4), 4, "read 4");
    EXPECT_STR(buf, "0123", "read content");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 4, "offset after read");
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(pread(fd, buf, 3, 7), 3, "pread 3 at 7");
    EXPECT_STR(buf, "789", "pread content");
    EXPECT_EQ(pread(fd, buf, 10, 8), 2, "pread short at the end");
    EXPECT_EQ(pread(fd, buf, 10, 10), 0, "pread at EOF");
    EXPECT_EQ(pread(fd, buf, 10, 1000), 0, "pread past EOF");
    EXPECT_EQ(pwrite(fd, "AB", 2, 2), 2, "pwrite 2 at 2");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 4, "pread/pwrite keep the offset");
    EXPECT_ERR(pread(fd, buf, 1, -1), EINVAL, "pread at a negative offset");
    EXPECT_ERR(pwrite(fd, "x", 1, -5), EINVAL, "pwrite at a negative offset");
    EXPECT_EQ(read(fd, buf, 0), 0, "read of 0 bytes");
    EXPECT_EQ(write(fd, buf, 0), 0, "write of 0 bytes");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 4, "zero-length I/O keeps the offset");

    /* writev at the end, readv split over three buffers. */
    lseek(fd, 0, SEEK_END);
    struct iovec w[3] = {{"ab", 2}, {"", 0}, {"cdefg", 5}};
    EXPECT_EQ(writev(fd, w, 3), 7, "writev 7");
    lseek(fd, 0, SEEK_SET);
    char x[5] = {0}, y[8] = {0}, z[32] = {0};
    struct iovec r[3] = {{x, 4}, {y, 7}, {z, 31}};
    EXPECT_EQ(readv(fd, r, 3), 17, "readv 17");
    printf("readv: [%s] [%s] [%s]\n", x, y, z);
    struct iovec pw[2] = {{"PQ", 2}, {"RS", 2}};
    EXPECT_EQ(pwritev(fd, pw, 2, 12), 4, "pwritev 4 at 12");
    memset(x, 0, sizeof x);
    memset(y, 0, sizeof y);
    struct iovec pr[2] = {{x, 3}, {y, 6}};
    EXPECT_EQ(preadv(fd, pr, 2, 8), 9, "preadv 9 at 8");
    printf("preadv: [%s] [%s]\n", x, y);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 17, "preadv/pwritev keep the offset");

    /* preadv2/pwritev2 with offset -1 use and advance the current offset. */
    lseek(fd, 2, SEEK_SET);
    memset(x, 0, sizeof x);
    struct iovec p2[1] = {{x, 3}};
    EXPECT_EQ(syscall(SYS_preadv2, fd, p2, 1, -1L, 0L, 0), 3, "preadv2 at offset -1");
    printf("preadv2: [%s]\n", x);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 5, "preadv2(-1) advanced the offset");
    memset(x, 0, sizeof x);
    EXPECT_EQ(syscall(SYS_preadv2, fd, p2, 1, 0L, 0L, 0), 3, "preadv2 at offset 0");
    printf("preadv2 at 0: [%s]\n", x);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 5, "preadv2(0) kept the offset");
    struct iovec w2[1] = {{"zz", 2}};
    EXPECT_EQ(syscall(SYS_pwritev2, fd, w2, 1, -1L, 0L, 0), 2, "pwritev2 at offset -1");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 7, "pwritev2(-1) advanced the offset");
    EXPECT_ERR(syscall(SYS_preadv2, fd, p2, 1, 0L, 0L, 0x40000000), EOPNOTSUPP,
               "preadv2 with an unknown flag");
    close(fd);
    EXPECT_STR(fs_content("io"), "01AB4zz789abPQRSg", "io content");

    /* lseek */
    fd = open("io", O_RDWR);
    EXPECT_EQ(lseek(fd, -2, SEEK_END), 15, "SEEK_END -2");
    EXPECT_EQ(lseek(fd, 3, SEEK_CUR), 18, "SEEK_CUR +3 (past EOF)");
    EXPECT_ERR(lseek(fd, -100, SEEK_CUR), EINVAL, "lseek to a negative offset");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 18, "a failed lseek keeps the offset");
    EXPECT_ERR(lseek(fd, 0, 99), EINVAL, "lseek with a bad whence");
    EXPECT_EQ(lseek(fd, 40, SEEK_SET), 40, "SEEK_SET past EOF");
    EXPECT_EQ(write(fd, "X", 1), 1, "write past EOF");
    struct stat st;
    fstat(fd, &st);
    EXPECT_EQ(st.st_size, 41, "size after writing past EOF");
    char gap[23];
    EXPECT_EQ(pread(fd, gap, 23, 17), 23, "read the gap");
    int zeros = 1;
    for (int i = 0; i < 23; i++)
        zeros &= gap[i] == 0;
    CHECK(zeros, "the gap reads as zeros");
    close(fd);
    EXPECT_ERR(lseek(-1, 0, SEEK_SET), EBADF, "lseek on a bad fd");
    int p[2];
    pipe(p);
    EXPECT_ERR(lseek(p[0], 0, SEEK_CUR), ESPIPE, "lseek on a pipe");
    EXPECT_ERR(pread(p[0], buf, 1, 0), ESPIPE, "pread on a pipe");
    EXPECT_ERR(pwrite(p[1], "x", 1, 0), ESPIPE, "pwrite on a pipe");
    close(p[0]);
    close(p[1]);
}

static void sparse_and_large(void) {
    char block[4096];
    int fd = open("sparse", O_CREAT | O_RDWR | O_TRUNC, 0644);
    EXPECT_OK(fd, "open sparse");
    memset(block, 'a', sizeof block);
    EXPECT_EQ(pwrite(fd, block, sizeof block, 0), 4096, "data at 0");
    memset(block, 'b', sizeof block);
    const off_t far = 1 << 20;
    EXPECT_EQ(pwrite(fd, block, sizeof block, far), 4096, "data at 1 MiB");
    const off_t size = far + 4096;
    EXPECT_EQ(fs_size("sparse"), size, "sparse size");
    /* Only what holds on every file system: one without hole support reports all data. */
    EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 0, "SEEK_DATA(0)");
    off_t h = lseek(fd, 0, SEEK_HOLE);
    CHECK(h >= 4096 && h <= size, "SEEK_HOLE(0) in [4096, size]");
    off_t d = lseek(fd, 8192, SEEK_DATA);
    CHECK(d == 8192 || d == far, "SEEK_DATA(8192) is 8192 or 1 MiB");
    EXPECT_EQ(lseek(fd, far, SEEK_DATA), far, "SEEK_DATA(1 MiB)");
    EXPECT_EQ(lseek(fd, size - 1, SEEK_HOLE), size, "SEEK_HOLE(size-1) is the end");
    EXPECT_ERR(lseek(fd, size, SEEK_DATA), ENXIO, "SEEK_DATA at EOF");
    EXPECT_ERR(lseek(fd, size, SEEK_HOLE), ENXIO, "SEEK_HOLE at EOF");
    EXPECT_ERR(lseek(fd, size + 100, SEEK_DATA), ENXIO, "SEEK_DATA past EOF");
    EXPECT_ERR(lseek(fd, -1, SEEK_DATA), ENXIO, "SEEK_DATA(-1)");
    char got[64];
    EXPECT_EQ(pread(fd, got, 64, 500000), 64, "read in the hole");
    int zeros = 1;
    for (int i = 0; i < 64; i++)
        zeros &= got[i] == 0;
    CHECK(zeros, "the hole reads as zeros");
    close(fd);

    /* Offsets past 4 GiB (sparse: one block of data). */
    fd = open("big", O_CREAT | O_RDWR | O_TRUNC, 0644);
    const off_t five_g = 5LL << 30;
    EXPECT_EQ(pwrite(fd, "END!", 4, five_g), 4, "pwrite at 5 GiB");
    struct stat st;
    fstat(fd, &st);
    EXPECT_EQ(st.st_size, five_g + 4, "size past 4 GiB");
    memset(got, 0, sizeof got);
    EXPECT_EQ(pread(fd, got, 16, five_g), 4, "pread at 5 GiB");
    EXPECT_STR(got, "END!", "content at 5 GiB");
    EXPECT_EQ(lseek(fd, 0, SEEK_END), five_g + 4, "SEEK_END past 4 GiB");
    EXPECT_EQ(lseek(fd, (4LL << 30) + 7, SEEK_SET), (4LL << 30) + 7, "SEEK_SET past 4 GiB");
    EXPECT_EQ(read(fd, got, 8), 8, "read at 4 GiB + 7");
    CHECK(memcmp(got, "\0\0\0\0\0\0\0\0", 8) == 0, "zeros at 4 GiB + 7");
    EXPECT_EQ(write(fd, "mid", 3), 3, "write at 4 GiB + 15");
    EXPECT_EQ(pread(fd, got, 3, (4LL << 30) + 15), 3, "read it back");
    CHECK(memcmp(got, "mid", 3) == 0, "content at 4 GiB + 15");
    EXPECT_OK(ftruncate(fd, (6LL << 30)), "ftruncate to 6 GiB");
    EXPECT_EQ(fs_size("big"), 6LL << 30, "size 6 GiB");
    EXPECT_OK(ftruncate(fd, 3), "ftruncate to 3 bytes");
    close(fd);
    EXPECT_EQ(fs_size("big"), 3, "size 3 after shrinking");
}

static void appending(void) {
    int fd = open("app", O_CREAT | O_WRONLY | O_APPEND | O_TRUNC, 0644);
    EXPECT_OK(fd, "open app O_APPEND");
    EXPECT_EQ(write(fd, "a", 1), 1, "append a");
    lseek(fd, 0, SEEK_SET);
    EXPECT_EQ(write(fd, "b", 1), 1, "append b after lseek 0");
    /* Linux appends even for pwrite on an O_APPEND fd (pwrite(2), BUGS). */
    EXPECT_EQ(pwrite(fd, "c", 1, 0), 1, "pwrite on an O_APPEND fd");
    int other = open("app", O_WRONLY);
    EXPECT_EQ(write(other, "Z", 1), 1, "write at 0 through a second fd");
    EXPECT_EQ(write(fd, "d", 1), 1, "append d");
    struct iovec v[2] = {{"e", 1}, {"f", 1}};
    EXPECT_EQ(writev(fd, v, 2), 2, "writev on O_APPEND");
    close(other);
    close(fd);
    EXPECT_STR(fs_content("app"), "Zbcdef", "appended content");

    fd = open("app", O_WRONLY);
    EXPECT_OK(fcntl(fd, F_SETFL, O_APPEND), "F_SETFL O_APPEND");
    EXPECT_EQ(write(fd, "g", 1), 1, "write after F_SETFL O_APPEND");
    EXPECT_OK(fcntl(fd, F_SETFL, 0), "F_SETFL clears O_APPEND");
    lseek(fd, 0, SEEK_SET);
    EXPECT_EQ(write(fd, "Y", 1), 1, "write at 0 without O_APPEND");
    close(fd);
    EXPECT_STR(fs_content("app"), "Ybcdefg", "content after F_SETFL toggles");
}

static void truncating(void) {
    fs_write_file("tr", "0123456789");
    EXPECT_OK(truncate("tr", 4), "truncate to 4");
    EXPECT_STR(fs_content("tr"), "0123", "truncated content");
    int fd = open("tr", O_RDWR);
    EXPECT_OK(ftruncate(fd, 8), "ftruncate to 8");
    char buf[16];
    EXPECT_EQ(pread(fd, buf, 16, 0), 8, "read 8 after extending");
    CHECK(memcmp(buf, "0123\0\0\0\0", 8) == 0, "extension reads as zeros");
    EXPECT_ERR(ftruncate(fd, -1), EINVAL, "ftruncate negative");
    close(fd);
    EXPECT_ERR(truncate("tr", -1), EINVAL, "truncate negative");
    mkdir("trdir", 0755);
    EXPECT_ERR(truncate("trdir", 0), EISDIR, "truncate a directory");
    EXPECT_ERR(truncate("missing", 0), ENOENT, "truncate missing");
    fd = open("tr", O_RDONLY);
    EXPECT_ERR(ftruncate(fd, 0), EINVAL, "ftruncate on an O_RDONLY fd");
    close(fd);
    fd = open("trdir", O_RDONLY);
    EXPECT_ERR(ftruncate(fd, 0), EINVAL, "ftruncate on a directory fd");
    close(fd);
    EXPECT_ERR(ftruncate(-1, 0), EBADF, "ftruncate on a bad fd");
    EXPECT_EQ(fs_size("tr"), 8, "tr size");
}

static void allocating_and_syncing(void) {
    int fd = open("fa", O_CREAT | O_RDWR | O_TRUNC, 0644);
    EXPECT_OK(fallocate(fd, 0, 0, 8192), "fallocate 8192");
    EXPECT_EQ(fs_size("fa"), 8192, "fallocate extends the size");
    char buf[8192];
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 8192, "read the allocated range");
    int zeros = 1;
    for (size_t i = 0; i < sizeof buf; i++)
        zeros &= buf[i] == 0;
    CHECK(zeros, "allocated range reads as zeros");
    EXPECT_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 8192), "fallocate KEEP_SIZE");
    EXPECT_EQ(fs_size("fa"), 8192, "KEEP_SIZE keeps the size");
    EXPECT_ERR(fallocate(fd, 0, 0, 0), EINVAL, "fallocate of length 0");
    EXPECT_ERR(fallocate(fd, 0, -1, 10), EINVAL, "fallocate at a negative offset");
    EXPECT_OK(fsync(fd), "fsync");
    EXPECT_OK(fdatasync(fd), "fdatasync");
    EXPECT_OK(syncfs(fd), "syncfs");
    sync();
    printf("sync: returned\n");
    close(fd);
    fd = open("fa", O_RDONLY);
    EXPECT_ERR(fallocate(fd, 0, 0, 10), EBADF, "fallocate on an O_RDONLY fd");
    EXPECT_OK(fsync(fd), "fsync on an O_RDONLY fd");
    close(fd);
    int p[2];
    pipe(p);
    EXPECT_ERR(fallocate(p[1], 0, 0, 10), ESPIPE, "fallocate on a pipe");
    EXPECT_ERR(fsync(p[1]), EINVAL, "fsync on a pipe");
    close(p[0]);
    close(p[1]);
    EXPECT_ERR(fsync(-1), EBADF, "fsync on a bad fd");
}

static void copying(void) {
    char src[10000];
    uint64_t s = 42;
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (char)('a' + xorshift64(&s) % 26);
    fs_write_bytes("src", src, sizeof src);
    int in = open("src", O_RDONLY);
    int out = open("dst", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    off_t off = 100;
    long total = 0;
    while (total < 5000) {
        ssize_t n = sendfile(out, in, &off, 5000 - total);
        if (n <= 0)
            break;
        total += n;
    }
    EXPECT_EQ(total, 5000, "sendfile with an offset");
    EXPECT_EQ(off, 5100, "sendfile advanced the offset variable");
    EXPECT_EQ(lseek(in, 0, SEEK_CUR), 0, "sendfile with an offset keeps the file offset");
    total = 0;
    while (total < 1000) {
        ssize_t n = sendfile(out, in, NULL, 1000 - total);
        if (n <= 0)
            break;
        total += n;
    }
    EXPECT_EQ(total, 1000, "sendfile without an offset");
    EXPECT_EQ(lseek(in, 0, SEEK_CUR), 1000, "sendfile advanced the file offset");
    off = 9990;
    EXPECT_EQ(sendfile(out, in, &off, 100), 10, "sendfile short at EOF");
    EXPECT_EQ(sendfile(out, in, &off, 100), 0, "sendfile at EOF");
    close(out);
    char got[6100];
    EXPECT_EQ(fs_read_file("dst", got, sizeof got), 6010, "dst size");
    CHECK(memcmp(got, src + 100, 5000) == 0 && memcmp(got + 5000, src, 1000) == 0 &&
              memcmp(got + 6000, src + 9990, 10) == 0,
          "sendfile copied the right bytes");

    int p[2];
    pipe(p);
    off = 0;
    EXPECT_EQ(sendfile(p[1], in, &off, 300), 300, "sendfile to a pipe");
    char pb[300];
    EXPECT_EQ(read(p[0], pb, sizeof pb), 300, "read what sendfile put in the pipe");
    CHECK(memcmp(pb, src, 300) == 0, "pipe got the file's bytes");
    close(p[0]);
    close(p[1]);
    int ro = open("src", O_RDONLY);
    EXPECT_ERR(sendfile(ro, in, NULL, 10), EBADF, "sendfile to an O_RDONLY fd");
    close(ro);

    int cout = open("cfr", O_CREAT | O_RDWR | O_TRUNC, 0644);
    loff_t oin = 0, oout = 0;
    total = 0;
    while (total < 10000) {
        ssize_t n = copy_file_range(in, &oin, cout, &oout, 10000 - total, 0);
        if (n <= 0)
            break;
        total += n;
    }
    EXPECT_EQ(total, 10000, "copy_file_range copied everything");
    EXPECT_EQ(oin, 10000, "copy_file_range advanced off_in");
    EXPECT_EQ(oout, 10000, "copy_file_range advanced off_out");
    EXPECT_EQ(lseek(cout, 0, SEEK_CUR), 0, "copy_file_range with offsets keeps the fd offset");
    char cb[10000];
    EXPECT_EQ(pread(cout, cb, sizeof cb, 0), 10000, "read the copy");
    CHECK(memcmp(cb, src, sizeof cb) == 0, "copy_file_range copied the right bytes");
    lseek(in, 0, SEEK_SET);
    lseek(cout, 10000, SEEK_SET);
    EXPECT_EQ(copy_file_range(in, NULL, cout, NULL, 50, 0), 50, "copy_file_range at the fd offsets");
    EXPECT_EQ(lseek(in, 0, SEEK_CUR), 50, "it advanced the input offset");
    EXPECT_EQ(lseek(cout, 0, SEEK_CUR), 10050, "it advanced the output offset");
    oin = 0;
    oout = 0;
    EXPECT_ERR(copy_file_range(in, &oin, cout, &oout, 10, 1), EINVAL, "copy_file_range flags");
    oin = 0;
    oout = 10;
    EXPECT_ERR(copy_file_range(cout, &oin, cout, &oout, 100, 0), EINVAL,
               "copy_file_range overlapping in one file");
    int ro2 = open("cfr", O_RDONLY);
    oin = 0;
    oout = 0;
    EXPECT_ERR(copy_file_range(in, &oin, ro2, &oout, 10, 0), EBADF,
               "copy_file_range to an O_RDONLY fd");
    close(ro2);
    close(cout);
    close(in);
    EXPECT_EQ(fs_size("cfr"), 10050, "cfr size");
}

static void fionread(void) {
    fs_write_file("fion", "0123456789abcdef");
    int fd = open("fion", O_RDONLY);
    int n = -1;
    EXPECT_OK(ioctl(fd, FIONREAD, &n), "FIONREAD on a file");
    EXPECT_EQ(n, 16, "FIONREAD = size at offset 0");
    lseek(fd, 10, SEEK_SET);
    ioctl(fd, FIONREAD, &n);
    EXPECT_EQ(n, 6, "FIONREAD = size - offset");
    close(fd);
    int p[2];
    pipe(p);
    write(p[1], "abc", 3);
    EXPECT_OK(ioctl(p[0], FIONREAD, &n), "FIONREAD on a pipe");
    EXPECT_EQ(n, 3, "FIONREAD = bytes in the pipe");
    close(p[0]);
    close(p[1]);
    fd = open(".", O_RDONLY);
    EXPECT_ERR(ioctl(fd, FIONREAD, &n), ENOTTY, "FIONREAD on a directory");
    struct winsize_like {
        unsigned short a, b, c, d;
    } ws;
    close(fd);
    fd = open("fion", O_RDONLY);
    EXPECT_ERR(ioctl(fd, TIOCGWINSZ, &ws), ENOTTY, "TIOCGWINSZ on a file");
    close(fd);
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    basic_rw();
    sparse_and_large();
    appending();
    truncating();
    allocating_and_syncing();
    copying();
    fionread();
    fs_list("scratch", ".", 100);
    return check_summary();
}
