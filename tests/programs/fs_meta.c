/* Metadata: stat/lstat/fstat/fstatat/statx (type, mode, size, nlink; never times, inodes
 * or devices), access/faccessat/faccessat2, chmod/fchmod/fchmodat, the chown family
 * (only changes that succeed for any owner: -1/-1 and to the file's own ids),
 * utimensat/futimens/utimes (explicit times read back), statfs/fstatfs.
 * argv[1] = scratch directory. */
#include "fs_util.h"
#include <sys/statfs.h>
#include <sys/time.h>
#include <time.h>

#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif

static void stats(void) {
    fs_write_file("f", "twelve bytes");
    mkdir("d", 0755);
    mkdir("d/sub", 0755);
    symlink("f", "lf");
    symlink("d", "ld");
    symlink("missing", "dangling");
    struct stat st;
    EXPECT_OK(stat("f", &st), "stat f");
    printf("stat f: %s\n", fs_describe(&st));
    EXPECT_OK(stat("lf", &st), "stat lf (follows)");
    printf("stat lf: %s\n", fs_describe(&st));
    EXPECT_OK(lstat("lf", &st), "lstat lf");
    printf("lstat lf: %s\n", fs_describe(&st));
    EXPECT_OK(stat("d", &st), "stat d");
    printf("stat d: %s\n", fs_describe(&st));
    EXPECT_OK(stat("ld/", &st), "stat ld/ (trailing slash follows)");
    printf("stat ld/: %s\n", fs_describe(&st));
    EXPECT_OK(lstat("ld/", &st), "lstat ld/ (trailing slash follows)");
    printf("lstat ld/: %s\n", fs_describe(&st));
    EXPECT_ERR(stat("dangling", &st), ENOENT, "stat a dangling symlink");
    EXPECT_OK(lstat("dangling", &st), "lstat a dangling symlink");
    printf("lstat dangling: %s\n", fs_describe(&st));
    EXPECT_ERR(stat("missing", &st), ENOENT, "stat missing");
    EXPECT_ERR(stat("f/x", &st), ENOTDIR, "stat f/x");
    EXPECT_ERR(stat("", &st), ENOENT, "stat empty path");
    EXPECT_ERR(lstat("", &st), ENOENT, "lstat empty path");

    int fd = open("f", O_RDONLY);
    EXPECT_OK(fstat(fd, &st), "fstat");
    printf("fstat f: %s\n", fs_describe(&st));
    struct stat st2;
    stat("f", &st2);
    CHECK(st.st_ino == st2.st_ino && st.st_dev == st2.st_dev, "fstat and stat agree on the inode");
    close(fd);
    EXPECT_ERR(fstat(-1, &st), EBADF, "fstat on a bad fd");

    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(fstatat(dfd, "sub", &st, 0), "fstatat(dirfd, sub)");
    printf("fstatat sub: %s\n", fs_describe(&st));
    EXPECT_OK(fstatat(AT_FDCWD, "lf", &st, AT_SYMLINK_NOFOLLOW), "fstatat NOFOLLOW");
    printf("fstatat lf nofollow: %s\n", fs_describe(&st));
    EXPECT_OK(fstatat(dfd, "", &st, AT_EMPTY_PATH), "fstatat AT_EMPTY_PATH");
    printf("fstatat empty path: %s\n", fs_describe(&st));
    EXPECT_ERR(fstatat(dfd, "", &st, 0), ENOENT, "fstatat empty path without AT_EMPTY_PATH");
    EXPECT_ERR(fstatat(dfd, "sub", &st, 0x40000000), EINVAL, "fstatat with a bad flag");
    close(dfd);

    /* Hard links raise nlink; a directory's nlink is 2 + its subdirectories. */
    EXPECT_OK(link("f", "f2"), "link f f2");
    stat("f", &st);
    EXPECT_EQ(st.st_nlink, 2, "nlink after link");
    stat("d", &st);
    CHECK(st.st_nlink == 3 || st.st_nlink == 1,
          "dir nlink is 2 + subdirs (or 1 where the fs does not count them)");
    EXPECT_OK(unlink("f2"), "unlink f2");
    stat("f", &st);
    EXPECT_EQ(st.st_nlink, 1, "nlink after unlink");
    fd = open("f", O_RDONLY);
    EXPECT_OK(unlink("f"), "unlink an open file");
    EXPECT_OK(fstat(fd, &st), "fstat an unlinked file");
    EXPECT_EQ(st.st_nlink, 0, "unlinked file has nlink 0");
    EXPECT_EQ(st.st_size, 12, "unlinked file keeps its size");
    char buf[16] = {0};
    EXPECT_EQ(pread(fd, buf, 15, 0), 12, "read an unlinked file");
    close(fd);
    fs_write_file("f", "twelve bytes");

    /* statx */
    struct fs_statx sx;
    memset(&sx, 0, sizeof sx);
    EXPECT_OK(fs_statx(AT_FDCWD, "f", 0, FS_STATX_BASIC_STATS, &sx), "statx f");
    CHECK((sx.stx_mask & FS_STATX_BASIC_STATS) == FS_STATX_BASIC_STATS, "statx basic mask");
    stat("f", &st);
    CHECK(sx.stx_mode == st.st_mode && sx.stx_size == (uint64_t)st.st_size &&
              sx.stx_nlink == st.st_nlink && sx.stx_ino == st.st_ino &&
              sx.stx_uid == st.st_uid && sx.stx_gid == st.st_gid &&
              sx.stx_mtime.tv_sec == st.st_mtim.tv_sec,
          "statx agrees with stat");
    printf("statx f: %s size=%llu nlink=%u\n", fs_type_name(sx.stx_mode),
           (unsigned long long)sx.stx_size, sx.stx_nlink);
    EXPECT_OK(fs_statx(AT_FDCWD, "lf", AT_SYMLINK_NOFOLLOW, FS_STATX_BASIC_STATS, &sx),
              "statx lf NOFOLLOW");
    printf("statx lf nofollow: %s size=%llu\n", fs_type_name(sx.stx_mode),
           (unsigned long long)sx.stx_size);
    fd = open("d", O_RDONLY);
    EXPECT_OK(fs_statx(fd, "", AT_EMPTY_PATH, FS_STATX_BASIC_STATS, &sx), "statx AT_EMPTY_PATH");
    printf("statx fd: %s mode=%04o\n", fs_type_name(sx.stx_mode), sx.stx_mode & 07777);
    close(fd);
    EXPECT_ERR(fs_statx(AT_FDCWD, "missing", 0, FS_STATX_BASIC_STATS, &sx), ENOENT,
               "statx missing");
    EXPECT_ERR(fs_statx(AT_FDCWD, "f", 0, 0x80000000U, &sx), EINVAL,
               "statx with the reserved mask bit");
}

static void permissions(void) {
    EXPECT_OK(chmod("f", 0600), "chmod 0600");
    EXPECT_EQ(fs_mode("f"), 0600, "mode 0600");
    int fd = open("f", O_RDONLY);
    EXPECT_OK(fchmod(fd, 0640), "fchmod 0640");
    EXPECT_EQ(fs_mode("f"), 0640, "mode 0640");
    close(fd);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(fchmodat(dfd, "f", 0604, 0), "fchmodat 0604");
    EXPECT_EQ(fs_mode("f"), 0604, "mode 0604");
    close(dfd);
    EXPECT_OK(chmod("lf", 0644), "chmod through a symlink");
    EXPECT_EQ(fs_mode("f"), 0644, "the target changed");
    EXPECT_EQ(fs_mode("lf"), 0777, "the symlink did not");
    EXPECT_OK(chmod("d", 01777), "chmod a directory 01777 (sticky)");
    EXPECT_EQ(fs_mode("d"), 01777, "mode 01777");
    EXPECT_OK(chmod("d", 0755), "chmod the directory back");
    EXPECT_OK(chmod("f", 0), "chmod 0");
    EXPECT_EQ(fs_mode("f"), 0, "mode 0");
    EXPECT_OK(chmod("f", 0644), "chmod 0644");
    EXPECT_ERR(chmod("missing", 0644), ENOENT, "chmod missing");
    EXPECT_ERR(chmod("dangling", 0644), ENOENT, "chmod a dangling symlink");
    EXPECT_ERR(fchmod(-1, 0644), EBADF, "fchmod on a bad fd");

    /* access: only what holds for root and for an owner alike. */
    fs_write_file("x", "#!/bin/sh\n");
    chmod("x", 0755);
    EXPECT_OK(access("f", F_OK), "access F_OK");
    EXPECT_OK(access("f", R_OK | W_OK), "access R_OK|W_OK on an own 0644 file");
    EXPECT_ERR(access("f", X_OK), EACCES, "access X_OK on 0644 (even root)");
    EXPECT_OK(access("x", X_OK), "access X_OK on 0755");
    EXPECT_OK(access("d", X_OK), "access X_OK on a directory");
    EXPECT_ERR(access("missing", F_OK), ENOENT, "access missing");
    EXPECT_ERR(access("f/x", F_OK), ENOTDIR, "access f/x");
    EXPECT_ERR(access("dangling", F_OK), ENOENT, "access a dangling symlink");
    EXPECT_ERR(access("f", 8), EINVAL, "access with a bad mode");
    EXPECT_OK(faccessat(AT_FDCWD, "f", R_OK, AT_EACCESS), "faccessat AT_EACCESS");
    EXPECT_OK(syscall(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, AT_SYMLINK_NOFOLLOW),
              "faccessat2 NOFOLLOW on a dangling symlink");
    EXPECT_ERR(syscall(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, 0), ENOENT,
               "faccessat2 following a dangling symlink");
    EXPECT_ERR(syscall(SYS_faccessat2, AT_FDCWD, "f", F_OK, 0x1), EINVAL,
               "faccessat2 with a bad flag");
    dfd = open("d", O_RDONLY);
    EXPECT_OK(syscall(SYS_faccessat2, dfd, "", X_OK, AT_EMPTY_PATH), "faccessat2 AT_EMPTY_PATH");
    EXPECT_OK(syscall(SYS_faccessat2, dfd, "sub", X_OK, 0), "faccessat2 relative to a dirfd");
    close(dfd);
}

static void ownership(void) {
    struct stat st;
    stat("f", &st);
    CHECK(st.st_uid == geteuid(), "a new file belongs to the caller");
    EXPECT_OK(chown("f", (uid_t)-1, (gid_t)-1), "chown(-1, -1)");
    EXPECT_OK(chown("f", st.st_uid, st.st_gid), "chown to the file's own ids");
    int fd = open("f", O_RDONLY);
    EXPECT_OK(fchown(fd, (uid_t)-1, (gid_t)-1), "fchown(-1, -1)");
    EXPECT_OK(fchown(fd, st.st_uid, (gid_t)-1), "fchown to the own uid");
    close(fd);
    EXPECT_OK(lchown("lf", (uid_t)-1, (gid_t)-1), "lchown a symlink");
    EXPECT_OK(fchownat(AT_FDCWD, "dangling", (uid_t)-1, (gid_t)-1, AT_SYMLINK_NOFOLLOW),
              "fchownat NOFOLLOW on a dangling symlink");
    EXPECT_ERR(chown("dangling", (uid_t)-1, (gid_t)-1), ENOENT, "chown a dangling symlink");
    EXPECT_ERR(chown("missing", (uid_t)-1, (gid_t)-1), ENOENT, "chown missing");
    EXPECT_ERR(fchownat(AT_FDCWD, "f", (uid_t)-1, (gid_t)-1, 0x1), EINVAL,
               "fchownat with a bad flag");
    struct stat after;
    stat("f", &after);
    CHECK(after.st_uid == st.st_uid && after.st_gid == st.st_gid, "ownership unchanged");
    EXPECT_EQ(after.st_mode & 07777, 0644, "mode unchanged by chown");
}

static void times(void) {
    struct timespec ts[2] = {{1000000000, 0}, {1234567890, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, "f", ts, 0), "utimensat explicit times");
    struct stat st;
    stat("f", &st);
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000, "atime seconds");
    EXPECT_EQ(st.st_mtim.tv_sec, 1234567890, "mtime seconds");
    struct timespec omit[2] = {{0, UTIME_OMIT}, {1300000000, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, "f", omit, 0), "utimensat UTIME_OMIT atime");
    stat("f", &st);
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000, "atime kept by UTIME_OMIT");
    EXPECT_EQ(st.st_mtim.tv_sec, 1300000000, "mtime set");
    int fd = open("f", O_RDONLY);
    struct timespec fts[2] = {{1400000000, 0}, {1500000000, 0}};
    EXPECT_OK(futimens(fd, fts), "futimens");
    close(fd);
    stat("f", &st);
    EXPECT_EQ(st.st_atim.tv_sec, 1400000000, "atime from futimens");
    EXPECT_EQ(st.st_mtim.tv_sec, 1500000000, "mtime from futimens");
    struct timeval tv[2] = {{1100000000, 0}, {1200000000, 0}};
    EXPECT_OK(utimes("lf", tv), "utimes through a symlink");
    stat("f", &st);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000, "utimes set the target's mtime");
    struct timespec lts[2] = {{1010000000, 0}, {1020000000, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, "lf", lts, AT_SYMLINK_NOFOLLOW), "utimensat NOFOLLOW");
    lstat("lf", &st);
    EXPECT_EQ(st.st_mtim.tv_sec, 1020000000, "the symlink's own mtime");
    stat("f", &st);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000, "the target kept its mtime");
    time_t before = time(NULL);
    EXPECT_OK(utimensat(AT_FDCWD, "f", NULL, 0), "utimensat NULL (now)");
    stat("f", &st);
    CHECK(st.st_mtim.tv_sec >= before - 5 && st.st_mtim.tv_sec <= time(NULL) + 5,
          "mtime is now");
    struct timespec now2[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    EXPECT_OK(utimensat(AT_FDCWD, "d", now2, 0), "utimensat UTIME_NOW on a directory");
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    EXPECT_ERR(utimensat(AT_FDCWD, "f", bad, 0), EINVAL, "utimensat with nsec out of range");
    EXPECT_ERR(utimensat(AT_FDCWD, "missing", ts, 0), ENOENT, "utimensat missing");

    /* Writing updates mtime. */
    utimensat(AT_FDCWD, "f", ts, 0);
    fd = open("f", O_WRONLY | O_APPEND);
    write(fd, "!", 1);
    close(fd);
    stat("f", &st);
    CHECK(st.st_mtim.tv_sec > 1234567890, "a write moved mtime forward");
    /* A new entry updates the directory's mtime. */
    utimensat(AT_FDCWD, "d", ts, 0);
    fs_write_file("d/new", "");
    stat("d", &st);
    CHECK(st.st_mtim.tv_sec > 1234567890, "creating an entry moved the dir's mtime");
    /* Leave fixed times on everything this program keeps. */
    utimensat(AT_FDCWD, "f", ts, 0);
}

static void fs_stats(void) {
    struct statfs sfs;
    EXPECT_OK(statfs(".", &sfs), "statfs");
    CHECK(sfs.f_bsize > 0 && sfs.f_namelen >= 255, "statfs block size and name length");
    int fd = open("f", O_RDONLY);
    EXPECT_OK(fstatfs(fd, &sfs), "fstatfs");
    close(fd);
    EXPECT_ERR(statfs("missing", &sfs), ENOENT, "statfs missing");
    EXPECT_ERR(fstatfs(-1, &sfs), EBADF, "fstatfs on a bad fd");
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    stats();
    permissions();
    ownership();
    times();
    fs_stats();
    fs_list("scratch", ".", 100);
    return check_summary();
}
